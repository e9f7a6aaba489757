"""Challenge-ready evidence packages: the consented tests of an area and period, test by test
and per place, for a regulator's coverage challenge (see :mod:`.package`)."""
