"""Reaching hosts, for every module that opens connections: what the options
say (netconfig, dnsconfig) and one TCP/TLS connection on a VU's loop."""
