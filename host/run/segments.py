"""k6's execution segments: which share of a test one instance runs.

A segment is a fraction ``from:to`` of the test; a sequence lists the
segments every instance of the test runs. k6 does not cut a test into
contiguous blocks: it stripes it. Over a cycle of ``lcd`` consecutive items
(VUs, iterations), each segment owns the items its share says, spread out so
that any prefix of the cycle is shared as evenly as possible. Everything here
is computed with exact fractions, as k6 does with big.Rat, so that every
instance of a test (k6's or ours) agrees on who owns what.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from fractions import Fraction
from math import gcd

# k6 (Go's big.Rat.SetString): an integer, a decimal with optional exponent, or a/b.
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_RATIO = re.compile(r"[+-]?\d+/\d+")
_PERCENT = re.compile(r"[+-]?\d+")


class SegmentError(ValueError):
    """A segment or sequence k6 would refuse; the message is k6's."""


def parse_rat(text: str) -> Fraction:
    """A percentage (``25%``), decimal (``0.25``) or fraction (``1/4``), as k6 reads it."""
    if text.endswith("%"):
        number = text[:-1]
        if not _PERCENT.fullmatch(number):
            raise SegmentError(f"'{text}' is not a valid percentage")
        return Fraction(int(number), 100)
    if _RATIO.fullmatch(text):
        num, den = text.split("/")
        if int(den) == 0:
            raise SegmentError(f"'{text}' is not a valid percentage, decimal, fraction or interval value")
        return Fraction(int(num), int(den))
    if _DECIMAL.fullmatch(text):
        return Fraction(text)
    raise SegmentError(f"'{text}' is not a valid percentage, decimal, fraction or interval value")


def rat_string(value: Fraction) -> str:
    """Go's RatString: ``1/3``, or ``1`` for a whole number."""
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def _float2(value: Fraction) -> str:
    """Go's Rat.FloatString(2): rounded half away from zero."""
    scaled = abs(value) * 100
    whole = int(scaled)
    if scaled - whole >= Fraction(1, 2):
        whole += 1
    sign = "-" if value < 0 and whole else ""
    return f"{sign}{whole // 100}.{whole % 100:02d}"


def _round_half_up(value: Fraction) -> int:
    """k6's roundUp: the nearest integer, halves upward (values are never negative here)."""
    quotient, remainder = divmod(value.numerator, value.denominator)
    return quotient + 1 if 2 * remainder >= value.denominator else quotient


@dataclass(frozen=True)
class Segment:
    start: Fraction
    end: Fraction

    @classmethod
    def checked(cls, start: Fraction, end: Fraction) -> Segment:
        if start < 0:
            raise SegmentError(f"segment start value must be at least 0 but was {_float2(start)}")
        if start >= end:
            raise SegmentError(f"segment start({_float2(start)}) must be less than its end({_float2(end)})")
        if end > 1:
            raise SegmentError(f"segment end value can't be more than 1 but was {_float2(end)}")
        return cls(start, end)

    @classmethod
    def parse(cls, text: str) -> Segment:
        """``a:b`` or ``b`` (from 0); empty is the whole test."""
        start = Fraction(0)
        text = text or "1"
        if ":" in text:
            start_text, text = text.split(":", 1)
            start = parse_rat(start_text)
        return cls.checked(start, parse_rat(text))

    @property
    def length(self) -> Fraction:
        return self.end - self.start

    def __str__(self) -> str:
        return f"{rat_string(self.start)}:{rat_string(self.end)}"

    def scale(self, value: int) -> int:
        """k6's ExecutionSegment.Scale: this segment's share of ``value`` on its own."""
        return _round_half_up(value * self.end - _round_half_up(value * self.start))


def parse_sequence(text: str) -> list[Segment]:
    """``0,1/3,2/3,1``: consecutive points; empty means none given."""
    if not text:
        return []
    points = text.split(",")
    if len(points) < 2:
        raise SegmentError(f"at least 2 points are needed for an execution segment sequence, {len(points)} given")
    values = [parse_rat(point) for point in points]
    return [Segment.checked(a, b) for a, b in zip(values, values[1:])]


def sequence_string(sequence: list[Segment]) -> str:
    return ",".join(rat_string(p) for p in [sequence[0].start] + [s.end for s in sequence]) if sequence else ""


def _filled(sequence: list[Segment], segment: Segment | None) -> list[Segment]:
    """k6's GetFilledExecutionSegmentSequence: the sequence, or the segment alone, from 0 to 1."""
    if not sequence:
        if segment is None or segment.length == 1:
            return [Segment(Fraction(0), Fraction(1))]
        sequence = [segment]
    result = list(sequence)
    if result[0].start != 0:
        result.insert(0, Segment(Fraction(0), result[0].start))
    if result[-1].end != 1:
        result.append(Segment(result[-1].end, Fraction(1)))
    return result


class Stripes:
    """k6's ExecutionSegmentSequenceWrapper: a full sequence and, for each
    segment, the positions it owns in every cycle of ``lcd`` items."""

    def __init__(self, sequence: list[Segment]):
        self.sequence = sequence
        lcd = 1
        for s in sequence:
            lcd = lcd * s.length.denominator // gcd(lcd, s.length.denominator)
        self.lcd = lcd
        shares = [s.length.numerator * (lcd // s.length.denominator) for s in sequence]
        # The biggest share picks first; a stable sort keeps ties in sequence order.
        order = sorted(range(len(sequence)), key=lambda i: -shares[i])
        chosen = [0] * len(sequence)
        self.owned: list[list[int]] = [[] for _ in sequence]
        for i in range(lcd):
            for rank, index in enumerate(order):
                num, den = chosen[rank] * lcd, shares[index]
                if i > num // den or (i == num // den and num % den == 0):
                    chosen[rank] += 1
                    self.owned[index].append(i)
                    break

    def scale(self, index: int, value: int) -> int:
        """k6's ScaleInt64: how many of items 0..value-1 segment ``index`` owns."""
        owned = self.owned[index]
        return (value // self.lcd) * len(owned) + bisect_left(owned, value % self.lcd)

    def resplit(self, value: int, index: int) -> tuple[Stripes, int]:
        """k6's GetNewExecutionSegmentSequenceFromValue: the sequence that splits
        ``value`` items as this one does, with segments that get none left out."""
        if value < 1:
            raise SegmentError(f"cannot generate new sequence for value {value}")
        if value % self.lcd == 0:
            return self, index
        segments: list[Segment] = []
        new_index = -1
        before = 0
        for i in range(len(self.sequence)):
            count = self.scale(i, value)
            if count == 0:
                continue
            if i == index:
                new_index = len(segments)
            segments.append(Segment(Fraction(before, value), Fraction(before + count, value)))
            before += count
        if new_index == -1:
            raise SegmentError(f"segment {index} ({self.sequence[index]}) isn't present in the new sequence")
        return Stripes(segments), new_index


class Tuple:
    """k6's ExecutionTuple: one instance's segment within the test's sequence."""

    def __init__(self, stripes: Stripes, index: int):
        self.stripes = stripes
        self.index = index

    @classmethod
    def of(cls, segment: Segment | None, sequence: list[Segment]) -> Tuple:
        """k6's NewExecutionTuple; a segment not in the sequence is a SegmentError."""
        stripes = Stripes(_filled(sequence, segment))
        full = segment or Segment(Fraction(0), Fraction(1))
        starts = [s.start for s in stripes.sequence]
        index = bisect_left(starts, full.start)
        if index >= len(starts) or stripes.sequence[index] != full:
            raise SegmentError(
                f"provided segment {full} can't be found in sequence {sequence_string(stripes.sequence)}"
            )
        return cls(stripes, index)

    @property
    def segment(self) -> Segment:
        return self.stripes.sequence[self.index]

    @property
    def whole(self) -> bool:
        return len(self.stripes.sequence) == 1

    def scale(self, value: int) -> int:
        """This instance's share of ``value`` items (VUs, iterations)."""
        return value if self.whole else self.stripes.scale(self.index, value)

    def for_value(self, value: int) -> Tuple:
        """k6's GetNewExecutionTupleFromValue: the tuple that splits ``value`` items
        (shared-iterations and arrival rates split their iterations by VUs)."""
        stripes, index = self.stripes.resplit(value, self.index)
        return Tuple(stripes, index)

    def owned(self) -> list[int]:
        """Positions 0..lcd-1 this instance owns in each cycle."""
        return self.stripes.owned[self.index]

    def global_index(self, local: int) -> int:
        """The test-wide (0-based) position of this instance's ``local``-th (0-based) item."""
        owned = self.owned()
        cycles, rest = divmod(local, len(owned))
        return cycles * self.stripes.lcd + owned[rest]

    def owns(self, position: int) -> bool:
        """Whether the test-wide (0-based) item ``position`` is this instance's."""
        owned = self.owned()
        rest = position % self.stripes.lcd
        i = bisect_left(owned, rest)
        return i < len(owned) and owned[i] == rest

    def count_below(self, position: int) -> int:
        """How many of the test-wide items 0..position-1 this instance owns (k6's SegmentedIndex.GoTo)."""
        return self.stripes.scale(self.index, position)


WHOLE = Tuple(Stripes([Segment(Fraction(0), Fraction(1))]), 0)


class SegmentedIndex:
    """k6's SegmentedIndex: walks this instance's items in test order, giving
    (how many are ours so far, the test-wide 1-based number of the last one)."""

    def __init__(self, et: Tuple):
        owned = et.owned()
        lcd = et.stripes.lcd
        self.start = owned[0]
        self.lcd = lcd
        # The gaps between consecutive owned positions, the last wrapping into the next cycle.
        self.offsets = [b - a for a, b in zip(owned, owned[1:])] + [owned[0] + lcd - owned[-1]]
        self.scaled = 0
        self.unscaled = 0

    def next(self) -> tuple[int, int]:
        if self.scaled == 0:
            self.unscaled += self.start + 1
        else:
            self.unscaled += self.offsets[(self.scaled - 1) % len(self.offsets)]
        self.scaled += 1
        return self.scaled, self.unscaled

    def prev(self) -> tuple[int, int]:
        if self.scaled == 1:
            self.unscaled -= self.start + 1
        else:
            self.unscaled -= self.offsets[(self.scaled - 2) % len(self.offsets)]
        self.scaled -= 1
        return self.scaled, self.unscaled

    def go_to(self, value: int) -> tuple[int, int]:
        """Position on the last of ours among the test's first ``value`` items."""
        cycles = value // self.lcd
        self.scaled = cycles * len(self.offsets)
        self.unscaled = cycles * self.lcd + self.start + 1
        gi, i = 0, self.start
        while i < value % self.lcd:
            self.scaled += 1
            self.unscaled += self.offsets[gi]
            i += self.offsets[gi]
            gi += 1
        if gi > 0:
            self.unscaled -= self.offsets[gi - 1]
        elif self.scaled > 0:
            self.unscaled -= self.offsets[-1]
        if self.scaled == 0:
            self.unscaled = 0
        return self.scaled, self.unscaled
