"""Broadband statistics: tests binned by area × time × ISP into mergeable partial statistics
(:mod:`.frame`, :mod:`.sketch`), kept up to date incrementally (:mod:`.update`) and queried
with Piecewise's re-bin and filter language (:mod:`.query`, :mod:`.service`)."""
