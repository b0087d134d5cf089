// W5 start-up: a one-iteration script that does nothing.
export default function () {}
