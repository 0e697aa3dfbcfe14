"""The load drivers, siblings with one job each: `siege` (closed loop: N users, each sending its next request when
the previous one is answered) and `openloop` (requests on a schedule, answered or not)."""
