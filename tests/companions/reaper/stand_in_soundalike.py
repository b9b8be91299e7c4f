"""A stand-in for the `soundalike` command: answers per the CLI contract without a model.

`similar --json [--output OUT] ... FILE` answers with the results in SOUNDALIKE_STANDIN_RESULTS
(a JSON list of [path, score] or [path, score, similarity]), on stdout or into OUT (atomically, like the real CLI), after
some noise on stderr like a real program's warnings. `select FILE` just succeeds.
Every invocation appends its argv as a JSON line to SOUNDALIKE_STANDIN_ARGV.
SOUNDALIKE_STANDIN_FAIL="message" makes `similar` fail like the CLI does on a user error (that
message on stderr, and as {"error": ...} in OUT, exit status 1). SOUNDALIKE_STANDIN_HOLD=PATH
makes `similar` wait until PATH exists before answering (a slow query).
"""
import json
import os
import sys
import time

argv = sys.argv[1:]
with open(os.environ["SOUNDALIKE_STANDIN_ARGV"], "a", encoding="utf-8") as f:
    f.write(json.dumps(argv) + "\n")
if argv[:1] == ["select"]:
    print(f"selected {argv[-1]}")
    sys.exit(0)
assert argv[:2] == ["similar", "--json"], argv
output = argv[argv.index("--output") + 1] if "--output" in argv else None


def answer(text: str) -> None:
    if output is None:
        print(text, flush=True)
        return
    with open(output + ".tmp", "w", encoding="utf-8") as f:
        f.write(text + "\n")
    os.replace(output + ".tmp", output)


hold = os.environ.get("SOUNDALIKE_STANDIN_HOLD")
if hold:
    deadline = time.monotonic() + 60
    while not os.path.exists(hold) and time.monotonic() < deadline:
        time.sleep(0.01)
if os.environ.get("SOUNDALIKE_STANDIN_FAIL"):
    message = os.environ["SOUNDALIKE_STANDIN_FAIL"]
    print(f"soundalike: {message}", file=sys.stderr)
    answer(json.dumps({"error": message}))
    sys.exit(1)
count = int(argv[argv.index("-n") + 1])
query = argv[-1]
results = json.loads(os.environ.get("SOUNDALIKE_STANDIN_RESULTS", "[]"))[:count]
print("W0000 some library warning on stderr", file=sys.stderr, flush=True)
answer(json.dumps({"query": os.path.abspath(query),
                   "results": [{"path": r[0], "score": r[1],
                                **({"similarity": r[2]} if len(r) > 2 else {})}
                               for r in results]},
                  ensure_ascii=False))
