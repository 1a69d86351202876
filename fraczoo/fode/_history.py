"""Fast memory sums for time-stepping: H_n = sum_{j<n} w_{n-j} x_j with x_j revealed one at a time.

A time stepper needs H_n before it can compute x_n, so one FFT over the whole trajectory is not
possible; summing directly costs O(n) per step and O(N^2) in all. Following Hairer, Lubich &
Schlichte ("Fast numerical solution of nonlinear Volterra convolution equations", SIAM J. Sci.
Stat. Comput. 6 (1985) 532) the lower triangle {(n, j): j < n} is tiled by squares: for a pair
(n, j) let k be the highest bit in which n and j differ; then j lies in the source block
[P, P + 2^k) and n in the target block [P + 2^k, P + 2^(k+1)), P a multiple of 2^(k+1). A source
block of size s = 2^k is complete exactly when m = P + s is pushed, i.e. when the lowest set bit of
m is k, and its contribution to all s targets [m, m + s) is then one convolution with the kernel
slice w[1 : 2s] (dense for small s, FFT of size 2s above ``DIRECT_MAX``). Level k costs
N / 2^(k+1) convolutions of size 2^k, so the total is O(N log^2 N) and no step costs O(n).

Partial sums of a target block are kept in nested "windows": the window opened at m holds, for
every target in [m, m + s), the sum over all levels >= k, i.e. its own square plus the slice of the
enclosing window. Target m needs only levels that are set bits of m, all >= k, so H_m is the first
row of the window opened at m. Without autograd the windows are slices of one accumulator and the
signal rows are copied into one buffer, so the history holds O(log N) tensor objects, not a few per
step (the adjoint sweep's memory must not grow with N beyond these O(N d) buffers); with autograd
they are separate tensors (in-place updates of a shared buffer would make every backward step O(N)).

Layout: kernel (L, K, *wshape), wshape = (1, ..., 1, DA) broadcastable against the state shape
S = (..., D), DA in {1, D}; signal rows x_j of shape S (one signal for all K kernels) or (K, *S)
(kernel k applied to signal k); results H_n of shape (K, *S).
"""
from __future__ import annotations

import torch
from torch import Tensor

# Squares up to this size are summed with a dense (s x s) Toeplitz block; larger ones by FFT.
DIRECT_MAX = 32


class OnlineHistory:
    """Incremental causal convolution; ``push(x_{m-1})`` returns base_m + H_m for m = 1, ..., n_out - 1.

    ``base`` (optional, (K, n_out, *S)) is added to every result: solvers put the constant part of
    their update there, which saves a tensor op per step. ``x`` is (Kx, *S), or S for one signal.
    Results are (K, *S).
    """

    def __init__(self, kernel: Tensor, n_out: int, *, base: Tensor | None = None,
                 track_grad: bool | None = None):
        if track_grad is None:
            track_grad = torch.is_grad_enabled()
        self.track_grad = track_grad
        self.n_out = n_out
        top = max(1, n_out - 1).bit_length()  # levels 0 .. top - 1 can fire
        need = 2 ** (top + 1)
        if kernel.shape[0] < need:
            pad = kernel.new_zeros((need - kernel.shape[0],) + tuple(kernel.shape[1:]))
            kernel = torch.cat([kernel, pad], dim=0)
        self.kernel = kernel
        self.K = kernel.shape[1]
        self.DA = kernel.shape[-1]
        self.w1 = kernel[1]  # (K, *wshape): level 0 is a single product
        self.levels: dict[int, Tensor] = {}
        self.count = 0
        self.base = base
        self.x_buf: Tensor | None = None  # no-grad path: signal rows pushed so far, (n_out, [Kx,] *S)
        self.h_buf: Tensor | None = None  # no-grad path: results, (n_out, K, *S)
        self.segments: list[Tensor] = []  # autograd path: binary-counter stacks of signal rows
        self.windows: list[tuple[int, Tensor]] = []  # (start, (K, s, *S) rows), innermost last

    # -- one square of the tiling ----------------------------------------------------------------
    def _level(self, k: int) -> Tensor:
        op = self.levels.get(k)
        if op is None:
            s = 1 << k
            if s <= DIRECT_MAX:
                kern = self.kernel.reshape(self.kernel.shape[0], self.K, self.DA)
                r = torch.arange(s, device=kern.device)
                idx = r[:, None] + s - r[None, :]  # T[r, i] = w[r + s - i], in [1, 2s - 1]
                op = kern[idx].permute(2, 3, 0, 1)  # (K, DA, s, s)
                if self.DA == 1:
                    op = op.reshape(self.K * s, s)
            else:
                op = torch.fft.rfft(self.kernel[1:2 * s], n=2 * s, dim=0).transpose(0, 1)  # (K, s+1, *wshape)
            self.levels[k] = op
        return op

    def _square(self, k: int, block: Tensor, single: bool) -> Tensor:
        """Contribution of a source block to the s targets after it: (K, s, *S).

        ``block``: (s, *S) if ``single`` (one signal for all kernels), else (s, K, *S).
        """
        s = 1 << k
        op = self._level(k)
        if s <= DIRECT_MAX:
            if single and self.DA == 1:
                shape = tuple(block.shape[1:])
                return torch.mm(op, block.reshape(s, -1)).view((self.K, s) + shape)
            blk = block.unsqueeze(0) if single else block.transpose(0, 1)  # (Kx, s, *S)
            shape = tuple(blk.shape[2:])
            cols = blk.reshape(blk.shape[0], s, -1, shape[-1]).permute(0, 3, 1, 2)  # (Kx, D, s, B)
            mat = op.reshape(self.K, 1, s, s) if self.DA == 1 else op
            return torch.matmul(mat, cols).permute(0, 2, 3, 1).reshape((self.K, s) + shape)
        if single:
            spec = torch.fft.rfft(block, n=2 * s, dim=0) * op
        else:
            spec = torch.fft.rfft(block, n=2 * s, dim=0).transpose(0, 1) * op
        return torch.fft.irfft(spec, n=2 * s, dim=1)[:, s - 1:2 * s - 1]

    # -- stepping ------------------------------------------------------------------------------
    def push(self, x: Tensor) -> Tensor:
        self.count += 1
        m = self.count
        k = (m & -m).bit_length() - 1
        single = x.ndim == self.kernel.ndim - 2
        if self.track_grad:
            return self._push_graph(x, m, k, single)
        return self._push_buffer(x, m, k, single)

    def push_split(self, x: Tensor) -> tuple[Tensor, ...]:
        """``push(x)`` as K separate results of shape S (saves an unbind per step on the no-grad path)."""
        return self.push(x).unbind(0)

    def _dense_rows(self, k: int) -> Tensor:
        """Level-k Toeplitz block as an (s K, s) matrix with rows ordered (target r, kernel), so that
        one addmm_ updates the time-major buffer rows h_buf[m : m + s] in place (DA = 1, one signal)."""
        op = self.levels_rows.get(k)
        if op is None:
            s = 1 << k
            op = self._level(k).reshape(self.K, s, s).transpose(0, 1).reshape(s * self.K, s)
            self.levels_rows[k] = op
        return op

    def _allocate(self, x: Tensor, single: bool) -> None:
        state = tuple(x.shape) if single else tuple(x.shape[1:])
        self.h_buf = x.new_zeros((self.n_out, self.K) + state)
        if self.base is not None:
            self.h_buf += self.base.transpose(0, 1)
        self.x_buf = x.new_empty((self.n_out,) + tuple(x.shape))
        self.levels_rows: dict[int, Tensor] = {}

    def _push_buffer(self, x: Tensor, m: int, k: int, single: bool) -> Tensor:
        # time-major buffers: the rows a square reads or updates are one contiguous block. Row m of
        # h_buf is final once x_{m-1} is pushed (later squares only add to rows after it).
        if self.h_buf is None:
            self._allocate(x, single)
        self.x_buf[m - 1] = x
        h_m = self.h_buf[m]
        if k == 0:
            return h_m.addcmul_(self.w1, x)
        self._fire(m, k, single)
        return h_m

    def _fire(self, m: int, k: int, single: bool) -> None:
        """Add the square of level k whose source block ends at m to the buffered rows [m, m + 2^k)."""
        s = 1 << k
        end = min(m + s, self.n_out)
        block = self.x_buf[m - s:m]
        if s <= DIRECT_MAX and single and self.DA == 1 and end == m + s:
            target = self.h_buf[m:end].view(s * self.K, -1)
            target.addmm_(self._dense_rows(k), block.view(s, -1))
        else:
            part = self._square(k, block, single)  # (K, s, *S)
            self.h_buf[m:end].add_(part[:, :end - m].transpose(0, 1))

    # -- whole blocks (the parallel-in-time solver) -------------------------------------------------
    def push_block(self, xs: Tensor) -> None:
        """Push the rows x_c .. x_{c+L-1} at once (c = rows pushed so far; no-grad path only), for a
        caller that solves the block [c, c + L) itself and needs from this object only the history of
        the rows before it (``rows``). The block must be dyadic: L a power of two dividing c (c = 0:
        any power of two; the last block may be shorter). Then every pair (n, j), j < c <= n, lies in a
        square whose source block ends at a block boundary (the highest differing bit of n and j is at
        least log2 L), so firing the one square that ends at c + L is enough: the squares inside the
        block are skipped, and the rows a next dyadic block can cover, [m, m + lowbit(m)) with
        m = c + L, hold exactly the history of everything pushed (later rows are still partial)."""
        if self.track_grad:
            raise RuntimeError("push_block needs the no-grad path (track_grad=False)")
        L = xs.shape[0]
        c = self.count
        single = xs.ndim == self.kernel.ndim - 1
        if self.h_buf is None:
            self._allocate(xs[0], single)
        self.x_buf[c:c + L] = xs
        self.count = m = c + L
        if m < self.n_out:
            self._fire(m, (m & -m).bit_length() - 1, single)

    def rows(self, a: int, b: int) -> Tensor:
        """base_n + H_n for n in [a, b), shape (b - a, K, *S): final for n <= the rows pushed so far
        (needs ``base`` until something is pushed)."""
        if self.h_buf is None:
            return self.base[:, a:b].transpose(0, 1)
        return self.h_buf[a:b]

    def _push_graph(self, x: Tensor, m: int, k: int, single: bool) -> Tensor:
        segs = self.segments
        segs.append(x.unsqueeze(0))
        while len(segs) > 1 and segs[-1].shape[0] == segs[-2].shape[0]:
            tail = segs.pop()
            segs[-1] = torch.cat([segs[-1], tail], dim=0)
        # segs[-1] now holds x_{m-s} .. x_{m-1}, s = 2^k (the binary counter's lowest set bit)
        wins = self.windows
        while wins and wins[-1][0] + wins[-1][1].shape[1] <= m:
            wins.pop()
        parent = wins[-1] if wins else None
        if k == 0:
            row = self.w1 * x
            if parent is not None:
                row = row + parent[1][:, m - parent[0]]
        else:
            s = 1 << k
            part = self._square(k, segs[-1], single)
            if parent is not None:
                off = m - parent[0]
                part = part + parent[1][:, off:off + s]
            wins.append((m, part))
            row = part[:, 0]
        return row if self.base is None else row + self.base[:, m]


# Under autograd, grids of up to this many points sum their history directly (``DenseHistory``).
DENSE_STEPS = 64


class DenseHistory:
    """``OnlineHistory``'s results by direct sums, for short grids under autograd.

    Each pushed row x_j is added at once to the sums of all later rows, F <- F + w_{. - j} x_j with
    F (n_out, K, *S) starting at ``base``, and base_m + H_m is then row m of F: O(n_out) work per step,
    but two tensor operations (and autograd nodes) instead of the tiling's ten or so, which is what a
    short solve pays for. Same layout and ``push`` / ``push_split`` as ``OnlineHistory``; one signal
    for all kernels (x of shape S).
    """

    def __init__(self, kernel: Tensor, n_out: int, *, base: Tensor):
        idx = torch.arange(n_out, device=kernel.device)
        lag = idx[:, None] - idx[None, :]  # m - j
        cols = kernel[lag.clamp(min=0)] * (lag > 0).to(kernel.dtype).reshape((n_out, n_out) + (1,) * (kernel.ndim - 1))
        self.single = kernel.shape[1] == 1
        if self.single:  # one kernel: no K axis, so that reading a row is one autograd node, not two
            cols, base = cols.squeeze(2), base[0]
        self.cols = cols.unbind(1)  # cols[j][m] = w_{m-j} (m > j), else 0: (n_out, K, *wshape), K left out if 1
        self.sums = base if self.single else base.transpose(0, 1)  # (n_out, K, *S), K left out if 1
        self.count = 0

    def _add(self, x: Tensor) -> int:
        self.sums = torch.addcmul(self.sums, self.cols[self.count], x)
        self.count += 1
        return self.count

    def push(self, x: Tensor) -> Tensor:
        row = self.sums[self._add(x)]
        return row.unsqueeze(0) if self.single else row

    def push_split(self, x: Tensor) -> tuple[Tensor, ...]:
        m = self._add(x)
        return (self.sums[m],) if self.single else self.sums[m].unbind(0)


def history(kernel: Tensor, n_out: int, *, base: Tensor):
    """The history sums of a time stepper: ``DenseHistory`` for short grids under autograd, else
    ``OnlineHistory`` (O(N log^2 N))."""
    if torch.is_grad_enabled() and n_out <= DENSE_STEPS:
        return DenseHistory(kernel, n_out, base=base)
    return OnlineHistory(kernel, n_out, base=base)


class Trajectory:
    """Rows y_0, ..., y_{N-1} of a solution, written one step at a time.

    Under autograd the rows stay separate tensors and are stacked at the end (each carries its own
    graph); without it they go straight into one preallocated (N, *S) buffer, so a no-grad solve (the
    adjoint's forward pass) keeps no tensor object per step.
    """

    def __init__(self, first: Tensor, N: int):
        self.track_grad = torch.is_grad_enabled()
        if self.track_grad:
            self.rows = [first]
        else:
            self.rows = first.new_empty((N,) + tuple(first.shape))
            self.rows[0] = first

    def __setitem__(self, n: int, y: Tensor) -> None:
        if self.track_grad:
            self.rows.append(y)  # steps are written in order 1, 2, ...
        else:
            self.rows[n] = y

    def stack(self) -> Tensor:
        return torch.stack(self.rows) if self.track_grad else self.rows
