// Primal network simplex for the transportation problem (exact, float64).
//
// Graph: n' sources (rows of positive mass) and m' sinks (columns of positive mass), one
// uncapacitated arc i -> j for every pair, cost M_ij. Arcs are never stored: an arc is the
// pair (i, j) and its cost is read from M in place (DenseCosts) or computed from two point
// clouds (CloudCosts, no n x m matrix at all).
//
// Basis: a spanning tree of the n' + m' nodes (n' + m' - 1 arcs), rooted at a sink, held as
//   parent[v], flow[v] (flow on the arc between v and parent[v]) and its preorder as a circular
//   thread with subtree sizes and last nodes (a subtree is one segment of the thread).
// Initial basis: the least-cost rule on a shortlist (the 16 cheapest cells of every row, in
//   increasing cost), then the row-minimum rule for the rows still open (each sends its mass
//   to its cheapest columns that still have demand). Exactly one line is closed per
//   allocation, so the n' + m' - 1 allocations form a spanning tree whatever the order
//   (Dantzig, Linear Programming and Extensions, ch. 17). It is then made *strongly feasible* (every node can send flow to the
//   root: a sink's arc to its parent carries positive flow), which together with Cunningham's
//   leaving-arc rule prevents cycling on degenerate pivots (Ahuja, Magnanti & Orlin, Network
//   Flows, sec. 11.5).
// Pricing: block search (Grigoriadis 1986): arcs are scanned row by row from where the last
//   scan stopped, in blocks of B ~ sqrt(n' m') arcs; the most negative reduced cost of the
//   first block that has one enters. Reduced costs are computed on the fly from M and the
//   potentials (one contiguous row of M at a time, vectorized).
// Pivot: the cycle's apex (common ancestor of the entering arc's ends) is found by climbing
//   from both ends alternately and marking the nodes seen; the leaving arc is the last blocking
//   arc met when the cycle is traversed in its orientation from that apex (ties broken exactly,
//   in float64); the cut subtree is re-rooted at the entering arc's end (the thread is spliced
//   piece by piece along the reversed stem, O(stem)) and its potentials shifted by the entering
//   arc's reduced cost -- or the rest of the tree by the opposite amount when that is smaller
//   (one walk along the thread either way). Cost per pivot: O(B + cycle + min(moved, rest)).
// Termination: no arc has rc < -eps (eps = 2^-40 max |M_ij| over the basis arcs, far above
//   the round-off of the potentials, which are sums of those costs); the potentials (and
//   eps) are then recomputed from the tree and the check repeated.
#include "cpu/emd_cpu.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "common/cloud_costs.h"
#include "common/interrupt.h"
#include "common/otkit_common.h"

namespace otkit {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int kShortlist = 16;  // cells per row offered to the least-cost phase of the initial basis

// ---------------------------------------------------------------- cost policies
// The simplex reads costs through a policy indexed by network rows/columns (i < n', j < m'):
//   cost(i, j)                    one arc's cost (tree arcs, the entering arc, the final cost);
//   row_costs(i, j0, len, buf)    the costs c(i, j0 .. j0 + len - 1), in place (a pointer into M)
//                                 or written to buf (len <= m'); pricing and the initial basis
//                                 scan these rows;
//   kBlockFactor                  pricing block = kBlockFactor sqrt(n' m') arcs;
// Dense M (row-major, leading dimension ld). Gather: some columns have zero mass and are not in
// the network, so a row is read through the column map.
template <bool Gather>
struct DenseCosts {
    static constexpr double kBlockFactor = 1.0;
    static constexpr bool kScreened = false;
    const double* M;
    int64_t ld;
    const int64_t* rows;
    const int64_t* cols;
    double cost(int i, int j) const { return Gather ? M[rows[i] * ld + cols[j]] : M[rows[i] * ld + j]; }
    const double* row_costs(int i, int j0, int len, double* buf) const {
        const double* Mi = M + rows[i] * ld;
        if (!Gather) return Mi + j0;
        const int64_t* cj = cols + j0;
        for (int k = 0; k < len; ++k) buf[k] = Mi[cj[k]];
        return buf;
    }
};

// Point clouds: c(x_i, y_j) = ||x_i - y_j||^2 (sqeuclidean) or ||x_i - y_j|| (euclidean),
// computed on the fly, so no n x m matrix exists. The target points of the network are kept
// coordinate-major (d x m') so that a row of costs is d vectorized passes over contiguous data.
struct CloudCosts {
    // Pricing blocks of 0.15 sqrt(n' m') arcs instead of sqrt(n' m'): an arc costs a distance here, so
    // more, cheaper pivots win (measured at n = m = 10^4 in 2-D: 1.7x faster, uniform and random weights).
    static constexpr double kBlockFactor = 0.15;
    static constexpr bool kScreened = true;
    const double* X;  // (n, d) row-major, original row indices
    int64_t d;
    bool root;        // euclidean: square root of the squared distance
    const int64_t* rows;
    int m;
    std::vector<double> YT;  // (d, m') network columns

    CloudCosts(const double* X_, const double* Y, int64_t d_, bool euclid, const std::vector<int64_t>& rows_,
               const std::vector<int64_t>& cols)
        : X(X_), d(d_), root(euclid), rows(rows_.data()), m(static_cast<int>(cols.size())),
          YT(static_cast<size_t>(d_) * cols.size()) {
        for (int j = 0; j < m; ++j)
            for (int64_t c = 0; c < d; ++c) YT[c * m + j] = Y[cols[j] * d + c];
    }
    double cost(int i, int j) const {
        const double* xi = X + rows[i] * d;
        double s = 0.0;
        for (int64_t c = 0; c < d; ++c) {
            const double t = xi[c] - YT[c * m + j];
            s += t * t;
        }
        return root ? std::sqrt(s) : s;
    }
    const double* row_costs(int i, int j0, int len, double* buf) const {
        cloud_cost_row(X + rows[i] * d, YT.data(), int64_t(m), d, int64_t(j0), int64_t(len), root, buf);
        return buf;
    }
    // Pricing: the row segment's costs (as row_costs), or nullptr when no arc of it can have
    // c_ij + w_k < thr. Euclidean: squared distances are screened against (thr - w_k)^2 with a margin
    // of 2^-50 (|thr| + |w_k|) (the round-off of the sum and of the square root), so the square roots
    // are taken only for segments that may hold a new best arc.
    const double* screened_row(int i, int j0, int len, const double* w, double thr, double* buf) const {
        if (!root) return row_costs(i, j0, len, buf);
        cloud_cost_row(X + rows[i] * d, YT.data(), int64_t(m), d, int64_t(j0), int64_t(len), false, buf);
        const double margin = std::ldexp(1.0, -50), athr = std::fabs(thr);
        int hit = 0;
#pragma omp simd reduction(| : hit)
        for (int k = 0; k < len; ++k) {
            const double t = thr - w[k] + margin * (athr + std::fabs(w[k]));
            hit |= (t > 0.0) & (buf[k] <= t * t);
        }
        if (!hit) return nullptr;
#pragma omp simd
        for (int k = 0; k < len; ++k) buf[k] = std::sqrt(buf[k]);
        return buf;
    }
};

template <class Costs>
class NetworkSimplex {
   public:
    // a0, b0 (nullptr or one entry per row / column of the network): potentials that guide the
    // initial basis (warm start, see init_basis).
    NetworkSimplex(const Costs& costs, const std::vector<int64_t>& rows, const std::vector<int64_t>& cols,
                   const std::vector<double>& sa, const std::vector<double>& sb, const double* a0 = nullptr,
                   const double* b0 = nullptr, const EmdBasis* warm = nullptr)
        : C_(costs), rows_(rows), cols_(cols), n_(static_cast<int>(rows.size())),
          m_(static_cast<int>(cols.size())), N_(n_ + m_), buf_(static_cast<size_t>(m_)) {
        parent_.assign(N_, -1);
        mark_.assign(N_, 0);
        thread_.assign(N_, -1);
        rev_.assign(N_, -1);
        size_.assign(N_, 1);
        last_.assign(N_, -1);
        flow_.assign(N_, 0.0);
        pot_.assign(N_, 0.0);
        const int64_t arcs = static_cast<int64_t>(n_) * m_;
        block_ = std::max<int64_t>(static_cast<int64_t>(Costs::kBlockFactor * std::sqrt(static_cast<double>(arcs))), 16);
        block_ = std::min<int64_t>(block_, arcs);
        if (warm && warm->parent_in && load_basis(*warm, sa, sb)) {
            loaded_ = true;
        } else {
            parent_.assign(N_, -1);
            flow_.assign(N_, 0.0);
            init_basis(sa, sb, a0, b0);
        }
    }

    bool loaded() const { return loaded_; }

    // The tree in original node ids (rows 0..n-1, columns n..n+m-1): parent (-1 at the root,
    // -2 for rows/columns of zero mass) and the flow on the arc to the parent.
    // (Rows/columns outside the network keep the -2 / 0 that emd_network_simplex writes first.)
    void export_basis(const EmdBasis& out) const {
        const int64_t n = out.n;
        for (int v = 0; v < N_; ++v) {
            const int64_t o = orig(v, n);
            out.parent_out[o] = parent_[v] < 0 ? -1 : orig(parent_[v], n);
            out.flow_out[o] = flow_[v];
        }
    }

    // Runs at most max_iter pivots; returns OK or MAX_ITER. Ctrl-C: throws Interrupted.
    int run(int64_t max_iter, int64_t* niter) {
        int64_t it = 0;
        int status = OK;
        int ei, ej;
        double rc;
        InterruptPoll poll;
        while (true) {
            poll.check();
            if (!price(&ei, &ej, &rc)) {
                compute_potentials();  // drop the round-off accumulated by the pivots
                if (!price(&ei, &ej, &rc)) break;
            }
            if (it >= max_iter) {
                status = MAX_ITER;
                break;
            }
            pivot(ei, ej, rc);
            note_scale(cost(ei, ej));
            ++it;
        }
        compute_potentials();
        *niter = it;
        return status;
    }

    void output(int64_t* ai, int64_t* aj, double* ax, double* alpha, double* beta, EmdInfo* info) const {
        // cost: compensated (Neumaier) sum over the support
        double s = 0.0, c = 0.0;
        int64_t k = 0;
        for (int v = 0; v < N_; ++v) {
            const int p = parent_[v];
            if (p < 0) continue;
            const double x = flow_[v];
            if (!(x > 0.0)) continue;
            const int i = v < n_ ? v : p;
            const int j = (v < n_ ? p : v) - n_;
            ai[k] = rows_[i];
            aj[k] = cols_[j];
            ax[k] = x;
            ++k;
            const double term = x * cost(i, j);
            const double t = s + term;
            c += std::fabs(s) >= std::fabs(term) ? (s - t) + term : (term - t) + s;
            s = t;
        }
        info->narcs = k;
        info->cost = s + c;
        for (int i = 0; i < n_; ++i) alpha[rows_[i]] = pot_[i];
        for (int j = 0; j < m_; ++j) beta[cols_[j]] = -pot_[n_ + j];
    }

   private:
    bool loaded_ = false;

    int64_t orig(int v, int64_t n) const { return v < n_ ? rows_[v] : n + cols_[v - n_]; }

    // Warm start from a basis exported by an earlier solve with the same masses (the costs may
    // differ): the tree is primal feasible for any costs, so the simplex goes on from it. It is
    // checked first and refused (cold start) unless it is a spanning tree of this network rooted
    // at sink 0, bipartite, with finite flows >= 0 that meet the masses (to 1e-9 of the total),
    // and strongly feasible (every sink's arc to its parent carries flow > 0).
    bool load_basis(const EmdBasis& w, const std::vector<double>& sa, const std::vector<double>& sb) {
        const int64_t n = w.n, m = w.m;
        std::vector<int> row_of(n, -1), col_of(m, -1);
        for (int i = 0; i < n_; ++i) row_of[rows_[i]] = i;
        for (int j = 0; j < m_; ++j) col_of[cols_[j]] = j;
        auto node_of = [&](int64_t o) -> int {
            if (o < 0 || o >= n + m) return -1;
            if (o < n) return row_of[o];
            const int j = col_of[o - n];
            return j < 0 ? -1 : n_ + j;
        };
        const int root = n_;
        std::vector<double> net(N_, 0.0);
        for (int v = 0; v < N_; ++v) {
            const int64_t o = orig(v, n);
            const int64_t po = w.parent_in[o];
            if (v == root) {
                if (po != -1) return false;
                continue;
            }
            const int p = node_of(po);
            if (p < 0 || (p < n_) == (v < n_)) return false;
            const double f = w.flow_in[o];
            if (!(f >= 0.0 && f < kInf)) return false;
            if (v >= n_ && !(f > 0.0)) return false;
            parent_[v] = p;
            flow_[v] = f;
            net[v] += f;  // a source's outflow or a sink's inflow
            net[p] += f;
        }
        double tot = 0.0;
        for (double x : sa) tot += x;
        const double tol = 1e-9 * tot;
        for (int i = 0; i < n_; ++i)
            if (!(std::fabs(net[i] - sa[i]) <= tol)) return false;
        for (int j = 0; j < m_; ++j)
            if (!(std::fabs(net[n_ + j] - sb[j]) <= tol)) return false;
        // acyclic: every node reaches the root (0: not seen, 1: on the current path, 2: reaches it)
        std::vector<char> st(N_, 0);
        st[root] = 2;
        std::vector<int> path;
        for (int v = 0; v < N_; ++v) {
            path.clear();
            int x = v;
            while (st[x] == 0) {
                st[x] = 1;
                path.push_back(x);
                x = parent_[x];
            }
            if (st[x] == 1) return false;
            for (int y : path) st[y] = 2;
        }
        build_thread();
        compute_potentials();
        return true;
    }

    const Costs& C_;
    const std::vector<int64_t>& rows_;
    const std::vector<int64_t>& cols_;
    int n_, m_, N_;
    mutable std::vector<double> buf_;  // one row of costs (row_costs), m' entries
    // The tree: parent_[v]; thread_ / rev_, the preorder from the root as a circular doubly linked list
    // (the last node links back to the root); size_[v] and last_[v], the size of v's subtree and its last
    // node in preorder, so that the subtree is the thread segment v .. last_[v].
    std::vector<int> parent_, thread_, rev_, size_, last_;
    std::vector<uint32_t> mark_;  // apex search: 2 * stamp (s-side) or 2 * stamp + 1 (t-side)
    uint32_t stamp_ = 0;
    std::vector<double> flow_, pot_;
    int64_t block_ = 16;
    double eps_ = 0.0, scale_ = 0.0;
    int cur_i_ = 0, cur_j_ = 0;  // where the next pricing scan starts
    double best_rc_ = 0.0;       // most negative reduced cost of the current scan
    std::vector<int> stem_;      // pivot: the path from the entering arc's end up to the leaving arc
    struct Piece {
        int a_end, b_start, b_end, size;
    };
    std::vector<Piece> pieces_;  // retree: the old thread around each stem node

    double cost(int i, int j) const { return C_.cost(i, j); }
    const double* row_costs(int i, int j0, int len) const { return C_.row_costs(i, j0, len, buf_.data()); }

    void link(int u, int v) {  // v follows u in preorder
        thread_[u] = v;
        rev_[v] = u;
    }

    // thread_, rev_, size_, last_ from parent_ (a spanning tree rooted at sink 0): depth-first order,
    // children in increasing node id.
    void build_thread() {
        const int root = n_;
        std::vector<int> off(N_ + 1, 0), kids(N_), order;
        for (int v = 0; v < N_; ++v)
            if (parent_[v] >= 0) ++off[parent_[v] + 1];
        for (int v = 0; v < N_; ++v) off[v + 1] += off[v];
        std::vector<int> fill(off.begin(), off.end() - 1);
        for (int v = 0; v < N_; ++v)
            if (parent_[v] >= 0) kids[fill[parent_[v]]++] = v;
        order.reserve(N_);
        std::vector<int> stack{root};
        while (!stack.empty()) {
            const int v = stack.back();
            stack.pop_back();
            order.push_back(v);
            for (int k = off[v + 1] - 1; k >= off[v]; --k) stack.push_back(kids[k]);
        }
        for (int k = 0; k < N_; ++k) link(order[k], order[(k + 1) % N_]);
        std::vector<int> pos(N_);
        for (int k = 0; k < N_; ++k) pos[order[k]] = k;
        for (int k = N_ - 1; k >= 0; --k) {
            const int v = order[k];
            size_[v] = 1;
            for (int c = off[v]; c < off[v + 1]; ++c) size_[v] += size_[kids[c]];
            last_[v] = order[k + size_[v] - 1];
        }
    }

    // ---------------------------------------------------------------- initial basis
    // With potentials (a0, b0) both rules run on the reduced costs M_ij - a0_i - b0_j instead of
    // M_ij: potentials that are optimal for a nearby problem (the previous step of an iterative
    // method) make the cells of that problem's optimal plan the cheapest ones, so the initial
    // basis starts close to the new optimum and few pivots remain.
    void init_basis(const std::vector<double>& sa, const std::vector<double>& sb, const double* a0, const double* b0) {
        std::vector<double> ra(sa), rb(sb);
        std::vector<double> pen(m_, 0.0);  // -b0_j, and +inf once a column is closed
        if (b0)
            for (int j = 0; j < m_; ++j) pen[j] = -b0[j];
        std::vector<int> ei, ej;
        std::vector<double> ex;
        ei.reserve(N_ - 1);
        ej.reserve(N_ - 1);
        ex.reserve(N_ - 1);
        int rows_open = n_, cols_open = m_;
        bool done = false;
        std::vector<char> row_closed(n_, 0);
        // One allocation x = min(ra_i, rb_j) at an open cell (i, j); closes exactly one line
        // (the row when ra_i <= rb_j, else the column; the last open row/column never closes
        // while the other side has several open lines). Returns true when row i closed.
        auto allocate = [&](int i, int j) {
            const double x = std::min(ra[i], rb[j]);
            ei.push_back(i);
            ej.push_back(j);
            ex.push_back(x);
            if (rows_open == 1 && cols_open == 1) {
                done = true;
                return true;
            }
            if (cols_open == 1 || (rows_open > 1 && ra[i] <= rb[j])) {
                rb[j] = std::max(rb[j] - x, 0.0);
                ra[i] = 0.0;
                row_closed[i] = 1;
                --rows_open;
                return true;
            }
            ra[i] = std::max(ra[i] - x, 0.0);
            rb[j] = 0.0;
            pen[j] = kInf;
            --cols_open;
            return false;
        };
        // Phase 1, least-cost rule on a shortlist: the K cheapest cells of every row, taken
        // in increasing cost while their row and column are open.
        {
            const int K = std::min(m_, kShortlist);
            std::vector<std::pair<double, int64_t>> cand;
            cand.reserve(static_cast<size_t>(n_) * K);
            std::vector<double> kv(K);
            std::vector<int> kj(K);
            for (int i = 0; i < n_; ++i) {
                const double* Ci = row_costs(i, 0, m_);
                int cnt = 0;
                for (int j = 0; j < m_; ++j) {
                    const double c = Ci[j] + pen[j];
                    if (cnt == K && !(c < kv[K - 1])) continue;
                    int p = cnt < K ? cnt++ : K - 1;  // insertion into the sorted shortlist
                    while (p > 0 && kv[p - 1] > c) {
                        kv[p] = kv[p - 1];
                        kj[p] = kj[p - 1];
                        --p;
                    }
                    kv[p] = c;
                    kj[p] = j;
                }
                const double ai = a0 ? a0[i] : 0.0;
                for (int k = 0; k < cnt; ++k) cand.emplace_back(kv[k] - ai, static_cast<int64_t>(i) * m_ + kj[k]);
            }
            std::sort(cand.begin(), cand.end());
            for (const auto& c : cand) {
                if (done) break;
                const int i = static_cast<int>(c.second / m_), j = static_cast<int>(c.second % m_);
                if (row_closed[i] || pen[j] == kInf) continue;
                allocate(i, j);
            }
        }
        // Phase 2, row-minimum rule for the rows still open.
        for (int i = 0; i < n_ && !done; ++i) {
            if (row_closed[i]) continue;
            const double* Ci = row_costs(i, 0, m_);
            while (true) {
                // cheapest open column of row i
                double vmin = kInf;
                const double* pp = pen.data();
                const int64_t len = m_;
#pragma omp simd reduction(min : vmin)
                for (int64_t j = 0; j < len; ++j) vmin = std::min(vmin, Ci[j] + pp[j]);
                int j = 0;
                while (j < m_ && !(Ci[j] + pen[j] == vmin)) ++j;
                if (allocate(i, j)) break;
            }
        }
        // adjacency (CSR) of the n' + m' - 1 allocations
        const int E = static_cast<int>(ei.size());
        std::vector<int> off(N_ + 1, 0), adj(2 * E), fill;
        std::vector<double> adjx(2 * E);
        for (int e = 0; e < E; ++e) {
            ++off[ei[e] + 1];
            ++off[n_ + ej[e] + 1];
        }
        for (int v = 0; v < N_; ++v) off[v + 1] += off[v];
        fill.assign(off.begin(), off.end() - 1);
        for (int e = 0; e < E; ++e) {
            const int s = ei[e], t = n_ + ej[e];
            adj[fill[s]] = t;
            adjx[fill[s]++] = ex[e];
            adj[fill[t]] = s;
            adjx[fill[t]++] = ex[e];
        }
        // orient from the root (sink 0) by breadth-first search
        const int root = n_;
        std::vector<int> order;
        order.reserve(N_);
        std::vector<char> seen(N_, 0);
        order.push_back(root);
        seen[root] = 1;
        parent_[root] = -1;
        for (size_t h = 0; h < order.size(); ++h) {
            const int v = order[h];
            for (int k = off[v]; k < off[v + 1]; ++k) {
                const int w = adj[k];
                if (seen[w]) continue;
                seen[w] = 1;
                parent_[w] = v;
                flow_[w] = adjx[k];
                order.push_back(w);
            }
        }
        // Strong feasibility: a sink l whose parent arc carries no flow but which receives
        // flow from a child k is re-hung as  g -> k -> l  (g = grandparent of l): the
        // arc (k, g) enters with zero flow (a source may hang on a zero arc), the zero arc
        // (parent(l), l) leaves; flows are unchanged.
        for (size_t h = 1; h < order.size(); ++h) {
            const int l = order[h];
            if (l < n_ || flow_[l] > 0.0) continue;
            int k = -1;
            for (int q = off[l]; q < off[l + 1]; ++q) {
                const int w = adj[q];
                if (parent_[w] == l && flow_[w] > 0.0) {
                    k = w;
                    break;
                }
            }
            if (k < 0) continue;  // no mass through l (cannot happen for b_l > 0)
            const int g = parent_[parent_[l]];
            const double fk = flow_[k];
            parent_[k] = g;
            flow_[k] = 0.0;
            parent_[l] = k;
            flow_[l] = fk;
        }
        build_thread();
        compute_potentials();
    }

    // Potentials from the tree, in preorder from the root.
    void compute_potentials() {
        const int root = n_;
        pot_[root] = 0.0;
        scale_ = eps_ = 0.0;  // the tolerance is re-derived from the current tree
        for (int v = thread_[root]; v != root; v = thread_[v]) set_node(v, parent_[v]);
    }

    // potential of v from that of its parent p (tree arc: rc = 0)
    void set_node(int v, int p) {
        const double c = v < n_ ? cost(v, p - n_) : cost(p, v - n_);
        note_scale(c);
        pot_[v] = v < n_ ? c + pot_[p] : pot_[p] - c;
    }

    // The optimality tolerance follows the costs of the basis arcs (the potentials are sums
    // of those): eps = 2^-40 max |M_ij| over the arcs of the tree at the last recomputation
    // of the potentials and those that entered since. A huge cost elsewhere in M (a
    // "forbidden" cell) does not loosen the final optimality test.
    void note_scale(double c) {
        const double a = std::fabs(c);
        if (a > scale_) {
            scale_ = a;
            eps_ = std::ldexp(a, -40);
        }
    }

    // ---------------------------------------------------------------- pricing
    // min over j in [j0, j0 + len) of c_ij + pot[n + j]; *arg: where it is attained
    double segment_min(int i, int j0, int len, int* arg) const {
        const double* ps = pot_.data() + n_ + j0;
        *arg = -1;
        const double* Ci;
        if constexpr (Costs::kScreened) {
            Ci = C_.screened_row(i, j0, len, ps, best_rc_ + pot_[i], buf_.data());
            if (!Ci) return kInf;  // no arc of the segment beats the best: the caller moves on
        } else {
            Ci = row_costs(i, j0, len);
        }
        double vmin = kInf;
#pragma omp simd reduction(min : vmin)
        for (int k = 0; k < len; ++k) vmin = std::min(vmin, Ci[k] + ps[k]);
        if (vmin - pot_[i] < best_rc_) {  // only a new best needs its column
            int k = 0;
            while (k < len - 1 && !(Ci[k] + ps[k] == vmin)) ++k;
            *arg = j0 + k;
        }
        return vmin;
    }

    // Block search: the most negative reduced cost in the first block that has one.
    bool price(int* ei, int* ej, double* erc) {
        const int64_t total = static_cast<int64_t>(n_) * m_;
        int64_t scanned = 0, budget = block_;
        best_rc_ = -eps_;
        int bi = -1, bj = -1;
        int i = cur_i_, j = cur_j_;
        while (scanned < total) {
            const int len = static_cast<int>(std::min<int64_t>(m_ - j, budget));
            int arg;
            const double r = segment_min(i, j, len, &arg) - pot_[i];
            if (arg >= 0) {
                best_rc_ = r;
                bi = i;
                bj = arg;
            }
            scanned += len;
            budget -= len;
            j += len;
            if (j == m_) {
                j = 0;
                if (++i == n_) i = 0;
            }
            if (budget == 0) {
                if (bi >= 0) break;
                budget = block_;
            }
        }
        cur_i_ = i;
        cur_j_ = j;
        if (bi < 0) return false;
        *ei = bi;
        *ej = bj;
        *erc = cost(bi, bj) - pot_[bi] + pot_[n_ + bj];
        return true;
    }

    // ---------------------------------------------------------------- tree update
    // The thread, sizes and last nodes after the pivot that moves q = stem.back()'s subtree to hang
    // from e_out through the reversed stem (parent_ still holds the old tree; apex: the cycle's apex).
    // The new preorder of the moved subtree is piece_0, piece_1, ..., piece_k: piece_0 the old subtree
    // of s_0, piece_t the old subtree of s_t without that of s_{t-1} (the thread segments
    // s_t .. rev(s_{t-1}) and thread(last(s_{t-1})) .. last(s_t)). It is cut out of the thread and
    // spliced in right after e_out. O(stem + cycle + the last_ chains), not O(subtree).
    void retree(const std::vector<int>& stem, int e_out, int apex) {
        const int k = static_cast<int>(stem.size()) - 1;
        const int q = stem[k], p = parent_[q];
        const int Lq = last_[q], Zq = size_[q];
        // the old thread around each stem node, read before any relink: piece_t = [stem[t] .. a_end]
        // + [b_start .. b_end] (the second part empty when s_{t-1}'s subtree ended s_t's)
        pieces_.resize(k + 1);
        for (int t = 1; t <= k; ++t) {
            const int below = stem[t - 1];
            Piece& pc = pieces_[t];
            pc.a_end = rev_[below];
            pc.b_start = last_[stem[t]] != last_[below] ? thread_[last_[below]] : -1;
            pc.b_end = last_[stem[t]];
            pc.size = size_[stem[t]];
        }
        // cut q's segment out of the thread; the ancestors whose segment ended with it end before it
        const int before = rev_[q];
        link(before, thread_[Lq]);
        for (int x = p; x >= 0 && last_[x] == Lq; x = parent_[x]) last_[x] = before;
        for (int x = p; x != apex; x = parent_[x]) size_[x] -= Zq;
        // the segment in its new order
        int tail = last_[stem[0]];
        int below_size = size_[stem[0]];
        for (int t = 1; t <= k; ++t) {
            const Piece& pc = pieces_[t];
            link(tail, stem[t]);
            tail = pc.a_end;
            if (pc.b_start >= 0) {
                link(tail, pc.b_start);
                tail = pc.b_end;
            }
            size_[stem[t]] = Zq - below_size;
            below_size = pc.size;
        }
        size_[stem[0]] = Zq;
        for (int t = 0; t <= k; ++t) last_[stem[t]] = tail;
        // splice it in after e_out; e_out's ancestors grow (up to the apex: above it the sizes are unchanged)
        const int nxt = thread_[e_out];
        link(e_out, stem[0]);
        link(tail, nxt);
        if (last_[e_out] == e_out)
            for (int x = e_out; x >= 0 && last_[x] == e_out; x = parent_[x]) last_[x] = tail;
        for (int x = e_out; x != apex; x = parent_[x]) size_[x] += Zq;
    }

    // ---------------------------------------------------------------- pivot
    void pivot(int i, int j, double rc) {
        const int s = i, t = n_ + j;
        // 1. apex and leaving arc. On the s-side (from s up to the apex) the arc of a source
        //    loses theta; on the t-side the arc of a sink does. Cunningham's rule: the last
        //    blocking arc in the cycle's orientation from the apex = the lowest on the
        //    s-side (strict <, scanning upward) unless the t-side has one as small (<=,
        //    keeps the highest), which comes later.
        // apex: climb alternately from s and t, marking the nodes seen, until one side
        // reaches a node the other side has marked
        if (++stamp_ >= 0x7fffffffu) {
            std::fill(mark_.begin(), mark_.end(), 0u);
            stamp_ = 1;
        }
        const uint32_t ms = 2 * stamp_, mt = 2 * stamp_ + 1;
        int apex;
        {
            int u = s, v = t;
            mark_[u] = ms;
            mark_[v] = mt;
            while (true) {
                if (u >= 0) {
                    u = parent_[u];
                    if (u >= 0) {
                        if (mark_[u] == mt) { apex = u; break; }
                        mark_[u] = ms;
                    }
                }
                if (v >= 0) {
                    v = parent_[v];
                    if (v >= 0) {
                        if (mark_[v] == ms) { apex = v; break; }
                        mark_[v] = mt;
                    }
                }
            }
        }
        double min_s = kInf, min_t = kInf;
        int leave_s = -1, leave_t = -1;
        for (int x = s; x != apex; x = parent_[x])
            if (x < n_ && flow_[x] < min_s) {
                min_s = flow_[x];
                leave_s = x;
            }
        for (int x = t; x != apex; x = parent_[x])
            if (x >= n_ && flow_[x] <= min_t) {
                min_t = flow_[x];
                leave_t = x;
            }
        const bool tside = min_t <= min_s;
        const double theta = tside ? min_t : min_s;
        const int q = tside ? leave_t : leave_s;
        // 2. push theta around the cycle
        if (theta > 0.0) {
            for (int x = s; x != apex; x = parent_[x]) flow_[x] += x < n_ ? -theta : theta;
            for (int x = t; x != apex; x = parent_[x]) flow_[x] += x >= n_ ? -theta : theta;
            flow_[q] = 0.0;
        }
        // 3. cut the leaving arc (q, parent[q]) and re-hang q's subtree from the entering
        //    arc: the stem e_in = s_0, s_1 = parent(s_0), ..., s_k = q is reversed (s_{t+1}
        //    becomes a child of s_t, e_in a child of e_out).
        const int e_in = tside ? t : s;
        const int e_out = tside ? s : t;
        const double shift = tside ? -rc : rc;
        stem_.clear();
        for (int x = e_in;; x = parent_[x]) {
            stem_.push_back(x);
            if (x == q) break;
        }
        retree(stem_, e_out, apex);
        int cur = e_in, newpar = e_out;
        double carry = theta;
        while (true) {
            const int oldpar = parent_[cur];
            const double oldflow = flow_[cur];
            parent_[cur] = newpar;
            flow_[cur] = carry;
            if (cur == q) break;
            newpar = cur;
            carry = oldflow;
            cur = oldpar;
        }
        // 4. potentials: the moved subtree (the thread segment e_in .. last_[e_in]) shifts by
        //    `shift`; only differences of potentials matter, so when it holds more than half of
        //    the nodes the rest of the tree shifts by -shift instead (the root's potential then
        //    leaves 0; they are recomputed from the tree once it drifts beyond 2^10 times the
        //    largest basis cost, to keep their round-off below the optimality tolerance).
        const int moved = size_[e_in];
        if (2 * moved <= N_) {
            int x = e_in;
            for (int c = 0; c < moved; ++c, x = thread_[x]) pot_[x] += shift;
        } else {
            int x = thread_[last_[e_in]];
            for (int c = moved; c < N_; ++c, x = thread_[x]) pot_[x] -= shift;
            if (std::fabs(pot_[n_]) > std::ldexp(scale_, 10)) compute_potentials();
        }
    }
};

// The network (rows/columns of positive mass), the outputs' defaults, then the simplex on the
// costs that make_costs(rows, cols) returns (a policy above, or a tag for the dense dispatch).
template <class Solve>
void solve_network(int64_t n, int64_t m, const double* a, const double* b, int64_t max_iter, int64_t* arc_i,
                   int64_t* arc_j, double* arc_x, double* alpha, double* beta, EmdInfo* info, const double* alpha0,
                   const double* beta0, const EmdBasis* basis, Solve&& with_costs) {
    std::vector<int64_t> rows, cols;
    std::vector<double> sa, sb, a0, b0;
    for (int64_t i = 0; i < n; ++i)
        if (a[i] > 0.0) {
            rows.push_back(i);
            sa.push_back(a[i]);
        }
    for (int64_t j = 0; j < m; ++j)
        if (b[j] > 0.0) {
            cols.push_back(j);
            sb.push_back(b[j]);
        }
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (int64_t i = 0; i < n; ++i) alpha[i] = nan;
    for (int64_t j = 0; j < m; ++j) beta[j] = nan;
    *info = EmdInfo();
    if (basis && basis->parent_out)
        for (int64_t o = 0; o < n + m; ++o) {
            basis->parent_out[o] = -2;
            basis->flow_out[o] = 0.0;
        }
    if (rows.empty() || cols.empty()) {
        info->status = INFEASIBLE;
        return;
    }
    if (alpha0 && beta0) {
        for (int64_t i : rows) a0.push_back(alpha0[i]);
        for (int64_t j : cols) b0.push_back(beta0[j]);
    }
    const double* pa = a0.empty() ? nullptr : a0.data();
    const double* pb = b0.empty() ? nullptr : b0.data();
    auto solve = [&](const auto& costs) {
        NetworkSimplex<std::decay_t<decltype(costs)>> ns(costs, rows, cols, sa, sb, pa, pb, basis);
        info->warm_basis = ns.loaded() ? 1 : 0;
        info->status = ns.run(max_iter, &info->niter);
        ns.output(arc_i, arc_j, arc_x, alpha, beta, info);
        if (basis && basis->parent_out) ns.export_basis(*basis);
    };
    with_costs(rows, cols, solve);
}

}  // namespace

void emd_network_simplex(const double* M, int64_t n, int64_t m, const double* a, const double* b,
                         int64_t max_iter, int64_t* arc_i, int64_t* arc_j, double* arc_x, double* alpha,
                         double* beta, EmdInfo* info, const double* alpha0, const double* beta0,
                         const EmdBasis* basis) {
    solve_network(n, m, a, b, max_iter, arc_i, arc_j, arc_x, alpha, beta, info, alpha0, beta0, basis,
                  [&](const std::vector<int64_t>& rows, const std::vector<int64_t>& cols, auto&& solve) {
                      if (static_cast<int64_t>(cols.size()) == m)
                          solve(DenseCosts<false>{M, m, rows.data(), cols.data()});
                      else
                          solve(DenseCosts<true>{M, m, rows.data(), cols.data()});
                  });
}

void emd_network_simplex_cloud(const double* X, const double* Y, int64_t n, int64_t m, int64_t d, bool euclidean,
                               const double* a, const double* b, int64_t max_iter, int64_t* arc_i, int64_t* arc_j,
                               double* arc_x, double* alpha, double* beta, EmdInfo* info, const double* alpha0,
                               const double* beta0) {
    solve_network(n, m, a, b, max_iter, arc_i, arc_j, arc_x, alpha, beta, info, alpha0, beta0, nullptr,
                  [&](const std::vector<int64_t>& rows, const std::vector<int64_t>& cols, auto&& solve) {
                      solve(CloudCosts(X, Y, d, euclidean, rows, cols));
                  });
}

}  // namespace otkit
