"""Every evaluation, benchmark, simulator, load test and report. It may import all of convrec; nothing imports it."""
