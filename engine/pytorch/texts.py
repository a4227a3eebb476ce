"""What a recorded PyTorch op says about itself: its formula, its local derivative, and
the letters those use for its inputs, at both levels a learner meets — the function they
wrote (``F.linear``, ``+``, ``@``) and the aten ops it runs (``aten.addmm``).

An op of a known *kind* (``linear``, ``softmax``, ``layer_norm`` …) also has worked
arithmetic (``engine.pytorch.worked``). ``SYMBOLS`` maps each letter of a kind's texts to
the input it stands for: an input index, an argument name, or a tuple of names (aten and
``torch.nn.functional`` name some arguments differently). No torch here.
"""

from __future__ import annotations

# kind → (formula, local derivative, letters)
KINDS: dict[str, tuple[str, str, dict]] = {
    "linear": ("y = x Wᵀ + b   (y[…,j] = Σₖ x[…,k]·W[j,k] + b[j])",
               "∂L/∂x = G W,  ∂L/∂W = Gᵀ x (summed over positions),  ∂L/∂b = Σ G",
               {"x": 0, "W": ("weight",), "b": ("bias",)}),
    "addmm": ("Y = bias + A @ B   (nn.Linear: x @ Wᵀ + b)",
              "∂L/∂A = G @ Bᵀ,  ∂L/∂B = Aᵀ @ G,  ∂L/∂bias = G summed over rows",
              {"bias": 0, "A": ("mat1",), "B": ("mat2",), "Y": "output"}),
    "matmul": ("Y = A @ B   (Y[…,i,j] = Σₖ A[…,i,k]·B[…,k,j])",
               "∂L/∂A = G @ Bᵀ,  ∂L/∂B = Aᵀ @ G   (summed over broadcast batches)",
               {"A": 0, "B": 1, "Y": "output"}),
    "add": ("y = a + alpha·b", "∂y/∂a = 1,  ∂y/∂b = alpha   (broadcast copies add up)",
            {"a": 0, "b": 1}),
    "sub": ("y = a − alpha·b", "∂y/∂a = 1,  ∂y/∂b = −alpha", {"a": 0, "b": 1}),
    "mul": ("y = a · b", "∂y/∂a = b,  ∂y/∂b = a", {"a": 0, "b": 1}),
    "div": ("y = a / b", "∂y/∂a = 1/b,  ∂y/∂b = −a/b²", {"a": 0, "b": 1}),
    "relu": ("y = max(0, x)", "∂y/∂x = 1 where x > 0, else 0", {"x": 0}),
    "gelu": ("y = x·Φ(x)   (Φ the normal CDF; approximate='tanh' uses a tanh curve)",
             "∂y/∂x = Φ(x) + x·φ(x)", {"x": 0}),
    "tanh": ("y = tanh x", "∂y/∂x = 1 − y²", {"x": 0}),
    "sigmoid": ("y = σ(x) = 1 / (1 + e⁻ˣ)", "∂y/∂x = y·(1 − y)", {"x": 0}),
    "exp": ("y = eˣ", "∂y/∂x = eˣ = y", {"x": 0}),
    "log": ("y = ln x", "∂y/∂x = 1/x", {"x": 0}),
    "softmax": ("p[i] = exp(x[i]) / Σⱼ exp(x[j])   (along dim)",
                "∂L/∂x[i] = p[i]·(g[i] − Σⱼ g[j]·p[j])", {"x": 0, "p": "output"}),
    "log_softmax": ("y[i] = x[i] − log Σⱼ exp(x[j])   (along dim)",
                    "∂L/∂x[i] = g[i] − softmax(x)[i]·Σⱼ g[j]", {"x": 0}),
    "layer_norm": ("y = γ·(x − μ)/√(σ² + ε) + β   (μ, σ² over normalized_shape)",
                   "∂L/∂x = (1/σ)(ĝ − mean ĝ − x̂·mean(ĝ·x̂)) with ĝ = g·γ;  "
                   "∂L/∂γ = Σ g·x̂;  ∂L/∂β = Σ g",
                   {"x": 0, "γ": ("weight",), "β": ("bias",)}),
    "embedding": ("y[…] = W[ids[…]]   (one row per id)",
                  "∂L/∂W[v] = Σ of G's rows at positions whose id is v (not padding_idx)",
                  {"W": ("weight",), "ids": ("indices", "input")}),
    "sum": ("y = Σ x   (over dim, or everything)", "∂y/∂x = 1 for every summed element",
            {"x": 0}),
    "mean": ("y = (1/n) Σ x   (over dim, or everything)",
             "∂y/∂x = 1/n for every averaged element", {"x": 0}),
    "nll": ("L = −(1/N) Σₙ logp[n, tₙ]   (reduction mean; sum drops the 1/N)",
            "∂L/∂logp[n, tₙ] = −1/N, 0 elsewhere", {"logp": 0, "t": ("target",), "L": "output"}),
    "cross_entropy": ("L = −(1/N) Σₙ log softmax(z[n])[tₙ]   (log-softmax + NLL)",
                      "∂L/∂z[n] = (softmax(z[n]) − onehot(tₙ)) / N   (p − y)",
                      {"z": 0, "t": ("target",), "L": "output", "y": None}),
    "sdpa": ("Y = softmax(Q Kᵀ·scale + mask) V   (scale = 1/√d unless given)",
             "∂L/∂V = Pᵀ G;  ∂L/∂S = P·(G Vᵀ − rowsum(P·G Vᵀ));  ∂L/∂Q = ∂L/∂S·K·scale;  "
             "∂L/∂K = ∂L/∂Sᵀ·Q·scale", {"Q": ("query",), "K": ("key",), "V": ("value",),
                                        "Y": "output"}),
}

# aten packet name → kind (in-place variants like add_ map through their base name)
ATEN_KINDS = {
    "addmm": "addmm", "mm": "matmul", "bmm": "matmul", "matmul": "matmul",
    "add": "add", "sub": "sub", "mul": "mul", "div": "div", "relu": "relu", "gelu": "gelu",
    "tanh": "tanh", "sigmoid": "sigmoid", "exp": "exp", "log": "log",
    "_softmax": "softmax", "_safe_softmax": "softmax", "softmax": "softmax",
    "_log_softmax": "log_softmax", "log_softmax": "log_softmax",
    "native_layer_norm": "layer_norm", "embedding": "embedding", "sum": "sum", "mean": "mean",
    "nll_loss_forward": "nll", "nll_loss": "nll",
    "_scaled_dot_product_flash_attention_for_cpu": "sdpa",
}

# function name (torch.nn.functional, torch, Tensor methods) → kind
FUNCTION_KINDS = {
    "linear": "linear", "matmul": "matmul", "__matmul__": "matmul", "__rmatmul__": "matmul",
    "mm": "matmul", "bmm": "matmul",
    "add": "add", "__add__": "add", "__radd__": "add", "__iadd__": "add",
    "sub": "sub", "__sub__": "sub", "__isub__": "sub", "subtract": "sub",
    "mul": "mul", "__mul__": "mul", "__rmul__": "mul", "__imul__": "mul", "multiply": "mul",
    "div": "div", "__truediv__": "div", "__itruediv__": "div", "true_divide": "div",
    "divide": "div",
    "relu": "relu", "gelu": "gelu", "tanh": "tanh", "sigmoid": "sigmoid", "exp": "exp",
    "log": "log", "softmax": "softmax", "log_softmax": "log_softmax",
    "layer_norm": "layer_norm", "embedding": "embedding", "sum": "sum", "mean": "mean",
    "nll_loss": "nll", "cross_entropy": "cross_entropy",
    "scaled_dot_product_attention": "sdpa",
}

# aten packets with no kind: (formula, local derivative) over their argument names
TEXTS: dict[str, tuple[str, str]] = {
    "baddbmm": ("Y[b] = beta·self + alpha·A[b] @ B[b]",
                "∂L/∂A[b] = alpha·G[b] @ B[b]ᵀ,  ∂L/∂B[b] = alpha·A[b]ᵀ @ G[b],  "
                "∂L/∂self = beta·G"),
    "t": ("Y = Xᵀ   (the two axes of a matrix swapped)", "∂L/∂X = Gᵀ"),
    "transpose": ("Y = X with axes dim0 and dim1 swapped",
                  "∂L/∂X = G with the same axes swapped back"),
    "permute": ("Y = X with its axes reordered by dims", "∂L/∂X = G with the axes put back"),
    "view": ("Y = X read in row-major order into a new shape (no copy)",
             "∂L/∂X = G read back into X's shape"),
    "_unsafe_view": ("Y = X read in row-major order into a new shape",
                     "∂L/∂X = G read back into X's shape"),
    "reshape": ("Y = X read in row-major order into a new shape",
                "∂L/∂X = G read back into X's shape"),
    "unsqueeze": ("Y = X with a new axis of length 1 at dim", "∂L/∂X = G with that axis removed"),
    "squeeze": ("Y = X without its axes of length 1", "∂L/∂X = G with those axes put back"),
    "expand": ("Y = X repeated along broadcast axes (no copy)",
               "∂L/∂X = G summed over the repeated axes (the copies' gradients add up)"),
    "clone": ("Y = a copy of X", "∂L/∂X = G"),
    "_to_copy": ("Y = X converted to another dtype or device", "∂L/∂X = G converted back"),
    "select": ("Y = X[index] along dim", "∂L/∂X = zeros with G placed at that index"),
    "slice": ("Y = X[start:end:step] along dim", "∂L/∂X = zeros with G placed in the slice"),
    "split_with_sizes": ("pieces of X along dim", "∂L/∂X = the pieces' gradients side by side"),
    "split": ("pieces of X along dim", "∂L/∂X = the pieces' gradients side by side"),
    "unsafe_split": ("pieces of X along dim (not views: each may change in place)",
                     "∂L/∂X = the pieces' gradients side by side"),
    "cat": ("Y = the tensors joined along dim", "∂L/∂(each input) = its slice of G"),
    "stack": ("Y = the tensors stacked on a new axis dim", "∂L/∂(each input) = its slice of G"),
    "silu": ("y = x·σ(x)", "∂y/∂x = σ(x)·(1 + x·(1 − σ(x)))"),
    "sqrt": ("y = √x", "∂y/∂x = 1/(2√x)"),
    "rsqrt": ("y = 1/√x", "∂y/∂x = −½·x^(−3/2)"),
    "neg": ("y = −x", "∂y/∂x = −1"),
    "rsub": ("y = other − alpha·self", "∂y/∂self = −alpha,  ∂y/∂other = 1"),
    "pow": ("y = self^exponent", "∂y/∂self = exponent·self^(exponent − 1)"),
    "mse_loss": ("L = mean((self − target)²)", "∂L/∂self = 2·(self − target)/N"),
    "masked_fill": ("y = value where mask, else self", "∂y/∂self = 0 where mask, 1 elsewhere"),
    "where": ("y = self where condition, else other",
              "∂L/∂self = G where condition;  ∂L/∂other = G elsewhere"),
    "native_dropout": ("y = x·keep/(1 − p)   (keep: random 0/1 mask)", "∂y/∂x = keep/(1 − p)"),
    "bernoulli": ("each element 1 with probability p, else 0   (random)", "no gradient"),
    "empty_like": ("uninitialised memory of x's shape: whatever bytes were there "
                   "(the next op fills it)", "no gradient"),
    "empty": ("uninitialised memory: whatever bytes were there (the next op fills it)",
              "no gradient"),
    "amax": ("y = max x   (over dim)", "∂y/∂x = 1 at the maximum (shared among ties), else 0"),
    "triu": ("Y = X with everything below diagonal k set to 0", "∂L/∂X = triu(G)"),
    "tril": ("Y = X with everything above diagonal k set to 0", "∂L/∂X = tril(G)"),
    "native_batch_norm": ("y = γ·(x − μ)/√(σ² + ε) + β   (μ, σ² per channel over the batch in "
                          "training, the running averages in eval)",
                          "∂L/∂x through μ and σ² too in training; ∂L/∂γ = Σ g·x̂;  ∂L/∂β = Σ g"),
    "convolution": ("Y = W ⋆ X + b   (each output channel: a sliding dot product)",
                    "∂L/∂X = G ⋆ᵀ W (a transposed convolution),  ∂L/∂W = X ⋆ G,  ∂L/∂b = Σ G"),
    "max_pool2d_with_indices": ("Y = the largest value in each window",
                                "∂L/∂X = G sent to the position of each window's maximum"),
}

# the letters of formulas in TEXTS, where they name an argument
TEXT_SYMBOLS = {"t": {"X": 0, "Y": "output"}, "transpose": {"X": 0, "Y": "output"},
                "clone": {"X": 0, "Y": "output"}}


def kind_texts(kind: str | None) -> tuple[str, str, dict] | None:
    return KINDS.get(kind) if kind else None


def resolve_symbols(symbols: dict, inputs: tuple[str, ...]) -> dict:
    """Letters → input index (or "output"/None), given the op's input names; a letter whose
    argument is not among the inputs (a number passed as a plain value) is left out."""
    out = {}
    for letter, where in symbols.items():
        if where is None or where == "output":
            out[letter] = where
        elif isinstance(where, int):
            if where < len(inputs):
                out[letter] = where
        else:
            found = next((inputs.index(n) for n in where if n in inputs), None)
            if found is not None:
                out[letter] = found
    return out
