"""The load drivers, siblings with one job each: `siege` (closed loop: N users, each sending its next request when
the previous one is answered), `openloop` (requests on a schedule, answered or not) and `jobs` (background jobs:
POST /jobs on the open loop's schedule, then each accepted job followed until it is done)."""
