"""Pure domain logic: stdlib only; clocks and random sources are passed in."""
