"""python -m harness.load.child CALL: a load driver run in a process of its own by the harness, its values handed
over as one JSON object, {"function": "openloop.drive_here", "kwargs": {...}}, the keyword arguments serialized
once (openloop.in_a_process writes it; it may be prefixed by `ip netns exec HOST`). Like the driver's own program:
its figures as JSON on stdout, its progress lines on stderr ("NAME: ... s of ..."), and a value it refuses one
line on stderr, status 2."""

import json
import sys

from harness.load import jobs, openloop

FUNCTIONS = {"openloop.drive_here": openloop.drive_here, "jobs.drive_here": jobs.drive_here}


def main(argv=None):
    call = json.loads((sys.argv[1:] if argv is None else argv)[0])
    function = call["function"]
    try:
        run = FUNCTIONS[function](**call["kwargs"])
    except openloop.Refused as refused:
        print(f"{function.split('.', 1)[0]}: error: {refused}", file=sys.stderr)
        return 2
    print(json.dumps(run, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
