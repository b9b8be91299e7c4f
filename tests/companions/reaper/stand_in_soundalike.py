"""A stand-in for `soundalike similar --json`: answers per the contract without a model.

It records its argv (SOUNDALIKE_STANDIN_ARGV, a file), and answers with the results in
SOUNDALIKE_STANDIN_RESULTS (a JSON list of [path, score]), after some noise on stderr like a
real program's warnings. SOUNDALIKE_STANDIN_FAIL="message" makes it fail like the CLI does on a
user error: that message on stderr, exit status 1.
"""
import json
import os
import sys

argv = sys.argv[1:]
with open(os.environ["SOUNDALIKE_STANDIN_ARGV"], "w", encoding="utf-8") as f:
    json.dump(argv, f)
if os.environ.get("SOUNDALIKE_STANDIN_FAIL"):
    print(f"error: {os.environ['SOUNDALIKE_STANDIN_FAIL']}", file=sys.stderr)
    sys.exit(1)
assert argv[:2] == ["similar", "--json"], argv
count = int(argv[argv.index("-n") + 1])
query = argv[-1]
results = json.loads(os.environ.get("SOUNDALIKE_STANDIN_RESULTS", "[]"))[:count]
print("W0000 some library warning on stderr", file=sys.stderr, flush=True)
print(json.dumps({"query": os.path.abspath(query),
                  "results": [{"path": p, "score": s} for p, s in results]},
                 ensure_ascii=False), flush=True)
