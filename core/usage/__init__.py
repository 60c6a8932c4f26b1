"""What CRS recorded about each key's use, and what it would do with the key's next request.

`periods` makes CRS's time-zone dates and weekly periods, `names` the Redis key names CRS
writes usage under, `figures` holds one key's figures and limits with their shares, `verdict`
decides "would CRS accept this key now, and if not why" in CRS's own check order, and `loader`
reads all of it for many keys in a few pipelined round trips (see docs/usage.md).
"""
