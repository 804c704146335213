"""otkit: numerical optimal transport with compiled kernels.

POT-compatible calls (``import otkit as ot``): ``sinkhorn``, ``sinkhorn2``, ``emd``, ``emd2``,
``barycenter``, ``barycenter_debiased``, ``convolutional_barycenter2d``, ``free_support_barycenter``,
``dist``, ``unif``, ``wasserstein_1d``, ... ; ``otkit.stochastic`` for the semi-dual solvers,
``otkit.metric`` for the parametric Wasserstein metric, ``otkit.proximal`` (needs torch) for
Wasserstein-proximal GANs.
"""
__version__ = "0.1.0"

from . import stochastic  # noqa: E402  (solve_semi_dual_entropic, semi_discrete, plan_from_dual)
from . import batch  # noqa: E402  (POT's ot.batch: solve_batch, solve_sample_batch)
from . import geometry  # noqa: E402  (DenseCost, PointCloud)
from . import multiscale  # noqa: E402  (multiscale_sinkhorn: large point clouds)
from . import unbalanced  # noqa: E402  (POT's ot.unbalanced namespace)
from . import lowrank  # noqa: E402  (POT's ot.lowrank: Nystroem and low-rank Sinkhorn, factored OT)
from . import bsp  # noqa: E402  (BSP-OT bijections: solve_sample(method="bsp"))
from . import gaussian  # noqa: E402  (Bures-Wasserstein, its high-dimensional PPCA form)
from ._backend import available_backends, default_backend  # noqa: E402
from ._build import OtkitBuildWarning  # noqa: E402
from ._config import show_config  # noqa: E402
from ._threads import get_num_threads, num_threads, set_num_threads  # noqa: E402
from .barycenter import (  # noqa: E402
    barycenter,
    barycenter_debiased,
    barycenter_sinkhorn,
    barycenter_stabilized,
    barycenter_unbalanced,
    convolutional_barycenter2d,
    convolutional_barycenter2d_debiased,
    free_support_barycenter,
    free_support_sinkhorn_barycenter,
)
from .batch import empirical_sinkhorn2_batch, sinkhorn2_batch  # noqa: E402
from .bregman import sinkhorn, sinkhorn2  # noqa: E402
from .divergence import SamplesLoss, empirical_sinkhorn_divergence, sinkhorn_divergence  # noqa: E402
from .empirical import empirical_sinkhorn, empirical_sinkhorn2  # noqa: E402
from .emd import emd, emd2, emd2_batch, emd2_sample, emd_sample  # noqa: E402
from .metric import param_w2  # noqa: E402
from .pairwise import pairwise_emd2, pairwise_sinkhorn2  # noqa: E402
from .solve import OTResult, solve, solve_sample  # noqa: E402
from .lowrank import factored_optimal_transport, lowrank_sinkhorn  # noqa: E402
from .gaussian import bures_wasserstein_distance, empirical_bures_wasserstein_distance  # noqa: E402
from .sliced import get_random_projections, max_sliced_wasserstein_distance, sliced_wasserstein_distance  # noqa: E402
from .unbalanced import sinkhorn_unbalanced, sinkhorn_unbalanced2  # noqa: E402
from .utils import dist, unif  # noqa: E402
from .wasserstein import emd2_1d, emd_1d, wasserstein, wasserstein_1d  # noqa: E402

__all__ = [
    "__version__",
    "available_backends",
    "default_backend",
    "show_config",
    "set_num_threads",
    "get_num_threads",
    "num_threads",
    "OtkitBuildWarning",
    "sinkhorn",
    "sinkhorn2",
    "sinkhorn2_batch",
    "empirical_sinkhorn2_batch",
    "batch",
    "sinkhorn_divergence",
    "empirical_sinkhorn_divergence",
    "SamplesLoss",
    "empirical_sinkhorn",
    "empirical_sinkhorn2",
    "sinkhorn_unbalanced",
    "sinkhorn_unbalanced2",
    "unbalanced",
    "geometry",
    "emd",
    "emd2",
    "emd2_batch",
    "emd_sample",
    "emd2_sample",
    "wasserstein",
    "wasserstein_1d",
    "emd_1d",
    "emd2_1d",
    "sliced_wasserstein_distance",
    "max_sliced_wasserstein_distance",
    "get_random_projections",
    "bures_wasserstein_distance",
    "empirical_bures_wasserstein_distance",
    "barycenter",
    "barycenter_sinkhorn",
    "barycenter_stabilized",
    "barycenter_debiased",
    "barycenter_unbalanced",
    "convolutional_barycenter2d",
    "convolutional_barycenter2d_debiased",
    "free_support_barycenter",
    "free_support_sinkhorn_barycenter",
    "lowrank",
    "bsp",
    "gaussian",
    "lowrank_sinkhorn",
    "factored_optimal_transport",
    "param_w2",
    "pairwise_sinkhorn2",
    "solve",
    "solve_sample",
    "OTResult",
    "pairwise_emd2",
    "dist",
    "unif",
    "stochastic",
]
