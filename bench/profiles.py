"""Run profiles: image count, crop size and method presets that make a grid fit a budget.

``smoke`` is what the tests and the CI gate run (under 2 minutes on 2 CPU cores); ``standard`` is what
``./run_all.sh`` runs (every method within 15 minutes on 2 CPU cores); ``paper`` is the DECSC paper's
protocol (full 512 x 512 x 31 test images) for a GPU machine. ``cube_images`` is how many images per dataset
keep whole denoised cubes next to the store for false-colour figures (None: all); the others keep only
row/column means and per-band PSNR. ``real`` is the paper's real-data section (Sec. IV-D): Houston 2018 with
synthetic noise, EO-1, GF-5 and Urban with their own noise; with ``skip_missing`` a dataset whose folder is
absent under the data root is named and skipped instead of failing the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.errors import UsageError


@dataclass(frozen=True)
class Profile:
    name: str
    datasets: str
    images: int | None
    crop: int | None
    description: str
    methods: str = "all"
    method_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    cube_images: int | None = None
    trace: bool = True
    flops: bool = True
    skip_missing: bool = False

    def params_for(self, method: str) -> dict[str, Any]:
        """Preset overrides this profile applies to ``method`` (exact name, else its family prefix)."""
        return dict(self.method_params.get(method, self.method_params.get(method.split(".")[0], {})))


#: Every method that runs on a CPU with what the repo ships. The paper-size `decsc` and `t3sc` need a
#: checkpoint trained on a GPU (`bench train`, then `--checkpoint`), so only the `paper` profile selects them.
CPU_METHODS = ("noisy,bm4d,bm4d.torch,lrmr,lrmr.author,lrmr.e3dtv,e3dtv,hyres,hyminor,fasthyde,ngmeet,llrt,"
               "3dlogtnn,mtsnmf,t3sc.small,decsc.small")

#: LLRT with the authors' settings takes about 85 s per 64 x 64 x 31 cube on one CPU thread; the CPU
#: profiles group 60 instead of 300 patches (about 5 s, and about 9 dB lower on the reference cube). The
#: `paper` profile runs the authors' settings. MTSNMF with the authors' 196 atoms takes 25-80 s a cube; the
#: CPU profiles learn 49 atoms (about 6 s, and 1.2 dB higher on reference cube 7).
_CPU_PRESETS = {"llrt": {"patnum": 60}, "mtsnmf": {"atoms": 49}}

PROFILES: dict[str, Profile] = {
    "smoke": Profile("smoke", "scenes31", images=1, crop=32,
                     description="1 test image, 32 x 32 centre crop; the CI regression gate", methods=CPU_METHODS,
                     method_params=_CPU_PRESETS),
    "standard": Profile("standard", "scenes31", images=3, crop=64,
                        description="3 test images, 64 x 64 centre crops; what ./run_all.sh runs on a CPU",
                        methods=CPU_METHODS, method_params=_CPU_PRESETS),
    "paper": Profile("paper", "icvl", images=None, crop=512,
                     description="the DECSC paper's ICVL protocol: every test image at 512 x 512 x 31",
                     methods="noisy,bm4d,bm4d.torch,lrmr,e3dtv,hyres,hyminor,fasthyde,ngmeet,llrt,3dlogtnn,mtsnmf,t3sc,decsc",
                     cube_images=1),
    "real": Profile("real", "houston2018,eo1,gf5,urban", images=None, crop=None,
                    description="the paper's real-data section: houston2018 (synthetic noise, metrics), eo1, gf5, "
                                "urban (real noise: images, row/column-mean profiles, no-reference scores) from "
                                "--data-root; missing folders are skipped", methods=CPU_METHODS, cube_images=1,
                    skip_missing=True),
}


def get(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UsageError(f"unknown profile {name!r}; choose from {', '.join(PROFILES)}") from None
