"""A traced signature's replay on the CPU as generated code: the arguments' and states' arrays into the plan,
its results back into the caller's tensors (new states, .grad, assigned arguments) and out as Tensors, with
no loops, lists or result tuples per call (a small step's replay costs about what the plan does)."""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from .tensors import Tensor


def replayer(c, unflatten: Callable) -> Callable[[Sequence[Tensor]], object]:
    """call(leaves) replaying the jit._Compiled `c` (a CPU plan) on the call's tensor arguments; `unflatten`
    rebuilds the function's result structure from its tensors."""
    plan, sig = c.plan, c.plan.signature
    xs = [f"x{i}" for i in range(c.n_args)]
    env: dict[str, object] = {"penv": plan.env, "wrap": Tensor._wrap, "dev": c.device, "plan": plan,
                              "holding": c.holding, "threads": threading.active_count, "structure": c.structure,
                              "unflatten": unflatten}
    env.update((f"s{k}", t) for k, t in enumerate(c.states))
    arrays = ", ".join(f"{t}._data" for t in xs + [f"s{k}" for k in range(len(c.states))])
    body = [f"r = penv['plan']({arrays})"]
    n_ret = sig.n_outputs + sig.n_grads
    body += [f"s{k}._data = r[{n_ret + j}]" for j, k in enumerate(sig.updates)]
    for j, (p, k) in enumerate(zip(c.grad_params, c.grad_args)):
        env[f"g{j}"] = p
        body.append(f"{'g' if k is None else 'x'}{j if k is None else k}.grad = wrap(r[{sig.n_outputs + j}], dev)")
    body += [f"x{k}._data = r[{c.n_out + j}]" for j, k in enumerate(c.arg_updates)]
    outs = [f"wrap(r[{i}], dev)" for i in range(c.n_out)]
    ret = outs[0] if c.single else f"unflatten(structure, [{', '.join(outs)}])"
    lines = ["def call(leaves):",
             f"    {', '.join(xs)}, = leaves" if xs else "",
             "    try:",
             # Alone, no other thread can touch the states meanwhile: the locks are for several threads.
             "        if threads() == 1:",
             *(f"            {b}" for b in body),
             "        else:",
             "            with holding:",
             *(f"                {b}" for b in body),
             "    except (IndexError, ValueError) as e:   # the op and the user's line that raised it",
             f"        located = plan.locate(e, [{arrays}])",
             "        if located is None:",
             "            raise",
             "        raise located from None",
             f"    return {ret}"]
    exec(compile("\n".join(ln for ln in lines if ln) + "\n", "<graphc replay>", "exec"), env)
    return env["call"]
