"""The checks run on every generated module and bad input (r2q-opt, mlir-runner)."""

import collections
import re
import subprocess

from .nearmiss import MAYBE_REMARK_KINDS

# The remark on a float contraction left alone because no operand is a weight.
NO_WEIGHT_REMARK = "contraction left in float: "
# The warning on a constant weight too small for f16 scales.
F32_FALLBACK_WARNING = "this layer uses f32 scales"


CRASH_MARKERS = ("Stack dump", "PLEASE submit a bug report", "Assertion", "LLVM ERROR", "UNREACHABLE",
                 "Segmentation fault", "AddressSanitizer")


def unnamed_quantized_arguments(text, weight_args):
    """(function, %argN) for every function argument that an r2q.quantize in
    the printed module reads (through any ops) although neither its r2q.weight
    attribute nor the weight-args option names it."""
    found = []
    for m in re.finditer(r"^  func\.func (?:\w+ )?@(\w+)\(([^\n]*?)\)(?: -> [^\n]*)? \{$(.*?)^  \}$", text, re.M | re.S):
        func, signature, body = m.groups()
        marked = {int(a) for a, attrs in re.findall(r"%arg(\d+): [^{,]*(?:\{([^}]*)\})?", signature)
                  if "r2q.weight" in attrs}
        marked |= {int(n.split(":arg")[1]) for n in weight_args if n.startswith(func + ":arg")}
        defs = {}
        for line in body.splitlines():
            d = re.match(r"\s*(%[\w#:]+(?:, %[\w#:]+)*) = (.*)", line)
            if d:
                rhs = d.group(2)
                ins = re.search(r"ins\(([^:]*):", rhs)
                used = re.findall(r"%[\w#]+", ins.group(1) if ins else rhs.split(" : ")[0])
                for name in d.group(1).split(", "):
                    defs[name.split(":")[0]] = used
        for q in re.finditer(r"= r2q\.quantize (%[\w#]+)", body):
            seen, todo = set(), [q.group(1)]
            while todo:
                v = todo.pop()
                if v in seen:
                    continue
                seen.add(v)
                todo += defs.get(v, [])
            for v in sorted(seen):
                a = re.fullmatch(r"%arg(\d+)", v)
                if a and int(a.group(1)) not in marked:
                    found.append((func, v))
    return found


class Checker:
    def __init__(self, args):
        self.args = args
        self.r2q = args.r2q_opt
        self.runner = args.mlir_runner
        libs = args.shared_lib_dir
        # libomp: the CPU pipeline runs layers large enough in parallel
        # (OpenMP), and mlir-runner resolves those calls from it.
        self.shared = ",".join(f"{libs}/{name}" for name in (
            "libmlir_runner_utils.so", "libmlir_c_runner_utils.so", "libomp.so"))

    def run(self, cmd, stdin=None):
        try:
            p = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=self.args.timeout)
            return p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired:
            return "timeout", "", f"timed out after {self.args.timeout} s"

    @staticmethod
    def crashed(rc, err):
        if rc == "timeout":
            return "hang (timeout)"
        if rc < 0:
            return f"killed by signal {-rc}"
        if rc >= 128:
            return f"exit code {rc} (signal?)"
        for m in CRASH_MARKERS:
            if m in err:
                return f"crash marker '{m}' on stderr"
        return None

    def quantize_args(self, o, extra=()):
        return [self.r2q, "-", f"--r2q-quantize-linear={o.text()}", *extra]

    def check_module(self, g):
        """Returns (failures, executed)."""
        fails = []
        executed = 0

        def fail(check, msg, stderr=""):
            tail = ""
            if stderr:
                snippet = [l for l in stderr.strip().splitlines() if "error:" in l or "Assertion" in l
                           or "LLVM ERROR" in l or "Stack dump" in l] or stderr.strip().splitlines()
                tail = " | " + " / ".join(snippet[:3])[:400]
            fails.append(f"{check}: {msg}{tail}")

        # 1. Parses.
        rc, plain, err = self.run([self.r2q, "-"], g.text)
        why = self.crashed(rc, err)
        if why or rc != 0:
            fail("parse", why or f"r2q-opt exited {rc} on the generated module (generator bug?)", err)
            return fails, executed
        # 2. Quantize.
        rc, out, err = self.run(self.quantize_args(g.options, ["--verify-each"]), g.text)
        why = self.crashed(rc, err)
        if why or rc != 0:
            fail("quantize", why or f"exited {rc}", err)
            return fails, executed
        if "error:" in err:
            fail("quantize", "exit 0 with an error on stderr", err)
        rc2, _, err2 = self.run([self.r2q, "-"], out)
        if self.crashed(rc2, err2) or rc2 != 0:
            fail("reparse", f"the quantized module does not re-parse ({rc2})", err2)
        contractions = g.mod.contractions
        expected = sum(1 for c in contractions if c.expect == "rewrite")
        got = len(re.findall(r"= r2q\.matmul ", out))
        if got != expected:
            fail("count", f"{got} r2q.matmul, expected {expected}")
        for c in contractions:
            present = f'corpus.id = "{c.cid}"' in out
            if c.expect == "rewrite" and present:
                fail("rewrite", f"layer {c.cid} ('{c.name}', {c.form}, {c.weight_kind} weight, {c.n}x{c.k}) "
                                f"left in float")
            elif c.expect != "rewrite" and not present:
                fail("untouched", f"{c.kind} {c.cid} ('{c.name}', expected {c.expect}) was rewritten or lost")
            if c.remark and c.remark not in err:
                fail("remark", f"missing remark \"{c.remark}\"")
        self.check_no_weight_remarks(g, err, fail)
        fallback = any(c.f32_fallback for c in contractions)
        if fallback != (F32_FALLBACK_WARNING in err):
            fail("warning", f"expected {'a' if fallback else 'no'} \"{F32_FALLBACK_WARNING}\" warning")
        for func, arg in unnamed_quantized_arguments(out, g.mod.weight_args):
            fail("activation", f"r2q.quantize of argument {arg} of @{func}, which nobody marked as a weight")
        n_remarks = err.count("' left in float: ")
        n_expected = sum(1 for c in contractions if c.remark)
        if n_remarks != n_expected:
            fail("remark", f"{n_remarks} \"layer '...' left in float\" remarks, expected {n_expected}")
        # 2b. Running the pass again changes nothing (layer names of the form
        # <function>:linear<i> shift when layers go, so not with filters).
        if not g.options.include and not g.options.exclude:
            rc3, out3, err3 = self.run(self.quantize_args(g.options), out)
            if self.crashed(rc3, err3) or rc3 != 0:
                fail("idempotent", f"second run exited {rc3}", err3)
            elif out3 != out:
                fail("idempotent", "a second r2q-quantize-linear run changed the module")
        # 3. Unchanged when nothing is quantizable.
        if expected == 0 and out != plain:
            fail("unchanged", "a module without quantizable layer was changed by r2q-quantize-linear")
        # 4. Lowers.
        c_iface = "true" if g.seed % 2 and g.kind != "exec" else "false"
        # Execution modules hold r2q.quantize ops of constants (the references):
        # they are folded by --canonicalize, which the pipeline only runs after
        # lowering r2q (a refined one would be rejected, see the report).
        canon = ["--canonicalize"] if g.kind == "exec" else []
        pipeline = f"--r2q-cpu-pipeline=c-interface={c_iface} {self.args.cpu_pipeline_options}".strip()
        rc, low, err = self.run(self.quantize_args(g.options, canon + [pipeline]), g.text)
        why = self.crashed(rc, err)
        if why:
            fail("pipeline", why, err)
        elif g.expect_pipeline_error:
            if rc != 1 or g.expect_pipeline_error not in err:
                fail("pipeline", f"expected error '{g.expect_pipeline_error}', got exit {rc}", err)
        elif rc != 0:
            fail("pipeline", f"exited {rc}", err)
        # 4b. Lowers for the GPU (PTX, no ptxas needed): no crash, and no
        # error but the expected one (a strided copy of an argument, an
        # argument's address compared by buffer deallocation, were refused).
        if self.args.gpu:
            rc, _, err = self.run(self.quantize_args(
                g.options, canon + ["--r2q-gpu-pipeline=cubin-format=isa", "-o", "/dev/null"]), g.text)
            why = self.crashed(rc, err)
            if why:
                fail("gpu-pipeline", why, err)
            elif (rc != 0) != bool(g.expect_pipeline_error):
                fail("gpu-pipeline", f"exited {rc}", err)
        # 5. Executes.
        if g.kind == "exec" and not fails:
            executed = 1
            rc, res, err = self.run([self.runner, "-e", "main", "-entry-point-result=void",
                                     f"-shared-libs={self.shared}"], low)
            why = self.crashed(rc, err)
            if why or rc != 0:
                fail("execute", why or f"mlir-runner exited {rc}", err)
                return fails, executed
            rows = [l.strip() for l in res.splitlines() if l.strip().startswith("[")]
            if len(rows) < 2:
                fail("execute", f"unexpected output: {res[:300]!r}")
                return fails, executed
            flags = [x.strip() for x in rows[0].strip("[]").split(",")]
            nums = [x.strip() for x in rows[1].strip("[]").split(",")]
            layer_flags = len(flags) - len(g.exec_chains)
            for j, fl in enumerate(flags[:layer_flags]):
                if fl != "1":
                    err_, mag = nums[2 * j], nums[2 * j + 1]
                    lays = [c for c in contractions if c.kind == "layer" and c.entry == j]
                    what = " then ".join(f"{c.form} ({c.weight_kind} weight, {c.n}x{c.k})" for c in lays)
                    fail("numerics", f"@layer{j}, {lays[0].et}: {what}: max|y - ref| = {err_}, max(|ref(x)|, |ref(-x)|) = {mag}")
            for j, fl in zip(g.exec_chains, flags[layer_flags:]):
                if fl != "1":
                    fail("generator", f"@chain{j}: the traced weight's ops give other values than the generator "
                                      f"computed ({nums[2 * (layer_flags + g.exec_chains.index(j))]} differ)")
        return fails, executed

    @staticmethod
    def check_no_weight_remarks(g, err, fail):
        """Each contraction without weight has a "contraction left in float:"
        remark at its own line (unless a name location replaces the line), and
        no other contraction has one (near-misses of MAYBE_REMARK_KINDS may)."""
        lines = g.text.split("\n")
        remarked = collections.Counter(int(m.group(1)) for m in re.finditer(
            rf"^<stdin>:(\d+):\d+: remark: {NO_WEIGHT_REMARK}", err, re.M))
        total = sum(1 for l in err.splitlines() if "remark: " in l and NO_WEIGHT_REMARK in l)
        expected = maybe = 0
        for c in g.mod.contractions:
            line = next(i + 1 for i, l in enumerate(lines) if f'corpus.id = "{c.cid}"' in l)
            spec = getattr(c, "spec", None)
            named = spec is not None and spec.loc_name is not None  # the remark names the location instead
            maybe_here = c.kind in MAYBE_REMARK_KINDS
            expected += c.no_weight
            maybe += maybe_here
            if c.no_weight and not named and not remarked[line]:
                fail("remark", f"{c.kind} {c.cid} ('{c.name}', {c.weight_kind} weight): no "
                               f"\"{NO_WEIGHT_REMARK}\" remark at line {line}")
            elif not c.no_weight and not maybe_here and remarked[line]:
                fail("remark", f"{c.kind} {c.cid} ('{c.name}', expected {c.expect}): unexpected "
                               f"\"{NO_WEIGHT_REMARK}\" remark at line {line}")
        if not expected <= total <= expected + maybe:
            fail("remark", f"{total} \"{NO_WEIGHT_REMARK}\" remarks, expected {expected}"
                           + (f" to {expected + maybe}" if maybe else ""))

    def check_bad(self, kind, text, opts, expect):
        cmd = [self.r2q, "-", f"--r2q-quantize-linear={opts}"]
        rc, out, err = self.run(cmd, text)
        why = self.crashed(rc, err)
        if why:
            return [f"bad-input {kind}: {why}" + (" | " + err.strip().splitlines()[0][:300] if err.strip() else "")]
        if rc != 1:
            return [f"bad-input {kind}: exit {rc}, expected 1 with an error"]
        if "error" not in err:
            return [f"bad-input {kind}: exit 1 without an error message"]
        if expect and expect not in err:
            return [f"bad-input {kind}: expected '{expect}' on stderr, got: {err.strip().splitlines()[0][:300]}"]
        return []
