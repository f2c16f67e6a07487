"""What a chip can do: peak FLOP/s per precision, memory, links, power and price."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from chip2grid.errors import InvalidParameterError
from chip2grid.hardware.interconnect import SWITCH_REDUCTION_MIN_RANKS
from chip2grid.hardware.power import sustained_clock_frac
from chip2grid.precision import COMPUTE_ALIASES, SIXTEEN_BIT, check_precision

SCALE_UP_TOPOLOGIES = ("switch", "full_mesh")
"""How a scale-up domain joins its chips (:attr:`Accelerator.scale_up_topology`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Accelerator:
    """One accelerator (a GPU, TPU chip, ...). All figures per chip, dense (no sparsity), SI units."""

    id: str
    name: str
    vendor: str
    family: str
    year: int
    memory_bytes: float
    memory_kind: str
    memory_bandwidth_bytes_per_s: float
    sram_bytes: float
    peak_flops_per_s: Mapping[str, float]
    weight_only_formats: tuple[str, ...]
    scale_up_bandwidth_bytes_per_s: float
    scale_up_domain_size: int
    scale_out_bandwidth_bytes_per_s: float
    tdp_w: float
    idle_power_w: float
    price_usd: float
    price_date: str
    source: str
    aliases: tuple[str, ...] = ()
    estimate: bool = False
    estimated_fields: tuple[str, ...] = ()
    notes: str = field(default="", compare=False)
    power_reference: str = ""
    """Id of the full-power part built on the same die (``h100-sxm`` for ``h100-nvl``), whose
    fitted efficiencies hold at its own TDP; empty when this part is its own reference."""
    compute_units_frac: float = 1.0
    """Enabled compute units (SMs, CUs) as a share of the reference part's."""
    reference_dynamic_power_w: float = 0.0
    """Dynamic power (above idle) this part needs to run its matrix units at the clock behind
    its datasheet peak, at the reference part's clock: set by the catalog loader from
    ``power_reference`` (0: ``tdp_w - idle_power_w``, the part is its own reference)."""
    reference_clock_frac: float = 1.0
    """The clock behind this part's datasheet peak as a share of the reference part's (from the
    peaks per compute unit; set by the catalog loader)."""
    max_power_limit_w: float = 0.0
    """The highest board power this part is stated to run at, above its TDP (NVIDIA's H200 SXM
    systems at 1,000 W); 0: the TDP. A power limit may go up to it."""
    scale_up_topology: str = "switch"
    """How the scale-up domain joins its chips. ``switch`` (NVSwitch, a PCIe switch, one
    ICI/NeuronLink fabric as modelled here): any group of chips in the domain gets each chip's
    whole ``scale_up_bandwidth_bytes_per_s``. ``full_mesh`` (AMD Infinity Fabric and Gaudi 3's
    RoCE ports on an 8-card board, a 4-way NVLink bridge): each chip has its own link to every
    peer, ``scale_up_bandwidth_bytes_per_s / (scale_up_domain_size - 1)`` each, so a group of
    ``w`` chips reaches only the ``w - 1`` links among them, and the step model costs its
    collectives over those (:meth:`collective_bandwidth_bytes_per_s`). The same part may sit on
    boards wired either way (H100 SXM: an 8-GPU NVSwitch board, or the 4-GPU HGX board whose
    GPUs link directly): :meth:`with_scale_up`."""
    scale_up_switch_reduction_eff: float = 0.0
    """Where the scale-up switch reduces in the fabric (NVLink SHARP in NVSwitch 3 and later,
    NCCL's ``NVLS`` all-reduce): the link efficiency such an all-reduce reaches relative to a ring
    all-reduce over the same links, which it beats by sending ``(n + 1) / n`` of the message
    through each chip's links instead of ``2 (n - 1) / n``
    (:func:`chip2grid.hardware.interconnect.switch_all_reduce_bus_factor`); 0: no in-switch
    reduction."""

    def __post_init__(self) -> None:
        for name in ("memory_bytes", "memory_bandwidth_bytes_per_s", "tdp_w"):
            if getattr(self, name) <= 0:
                raise InvalidParameterError(
                    f"accelerator {self.id}: {name}", getattr(self, name), "a number > 0"
                )
        if not 0 <= self.idle_power_w < self.tdp_w:
            raise InvalidParameterError(
                f"accelerator {self.id}: idle_power_w",
                self.idle_power_w,
                f"0..tdp_w ({self.tdp_w})",
            )
        if not self.peak_flops_per_s:
            raise InvalidParameterError(
                f"accelerator {self.id}: peak_flops_per_s", {}, "at least one precision"
            )
        if self.max_power_limit_w and self.max_power_limit_w < self.tdp_w:
            raise InvalidParameterError(
                f"accelerator {self.id}: max_power_limit_w",
                self.max_power_limit_w,
                f"0 (the TDP) or at least tdp_w ({self.tdp_w:g})",
            )
        if not 0 < self.compute_units_frac <= 1:
            raise InvalidParameterError(
                f"accelerator {self.id}: compute_units_frac", self.compute_units_frac, "(0, 1]"
            )
        if not 0 <= self.scale_up_switch_reduction_eff <= 1:
            raise InvalidParameterError(
                f"accelerator {self.id}: scale_up_switch_reduction_eff",
                self.scale_up_switch_reduction_eff,
                "0 (no in-switch reduction) to 1",
            )
        if self.scale_up_topology not in SCALE_UP_TOPOLOGIES:
            raise InvalidParameterError(
                f"accelerator {self.id}: scale_up_topology",
                self.scale_up_topology,
                " or ".join(SCALE_UP_TOPOLOGIES),
            )

    def with_scale_up(self, domain_size: int = 0, topology: str = "") -> Accelerator:
        """This part on a board that joins ``domain_size`` of them (0: the catalog's) wired as
        ``topology`` (``switch`` or ``full_mesh``; empty: the catalog's). The per-chip
        ``scale_up_bandwidth_bytes_per_s`` stays: a 4-GPU HGX H100 board spreads each GPU's 18
        NVLinks over its 3 peers, 6 to each."""
        if domain_size == 0 and not topology:
            return self
        if not isinstance(domain_size, int) or domain_size < 0:
            raise InvalidParameterError(
                "scale_up_domain_size", domain_size, "an integer >= 1, or 0 for the catalog's"
            )
        return dataclasses.replace(
            self,
            scale_up_domain_size=domain_size or self.scale_up_domain_size,
            scale_up_topology=topology or self.scale_up_topology,
        )

    def peer_link_bandwidth_bytes_per_s(self) -> float:
        """Bandwidth per direction from one chip to one peer of its scale-up domain: all of
        ``scale_up_bandwidth_bytes_per_s`` through a switch, one link's share on a full mesh."""
        if self.scale_up_topology == "full_mesh" and self.scale_up_domain_size > 1:
            return self.scale_up_bandwidth_bytes_per_s / (self.scale_up_domain_size - 1)
        return self.scale_up_bandwidth_bytes_per_s

    def collective_bandwidth_bytes_per_s(self, ranks: int) -> float:
        """Bandwidth per direction each chip brings to a collective among ``ranks`` chips: the
        scale-out network's beyond one scale-up domain; within it all of the chip's scale-up
        bandwidth through a switch, and on a full mesh the ``ranks - 1`` links to the other
        members (a direct all-reduce or all-to-all sends over all of them at once)."""
        if ranks > self.scale_up_domain_size:
            return self.scale_out_bandwidth_bytes_per_s
        if self.scale_up_topology != "full_mesh":
            return self.scale_up_bandwidth_bytes_per_s
        return self.peer_link_bandwidth_bytes_per_s() * (max(ranks, 2) - 1)

    def switch_reduction_eff(self, ranks: int) -> float:
        """:attr:`scale_up_switch_reduction_eff` for an all-reduce among ``ranks`` chips: 0
        unless they sit in one switched scale-up domain and number more than
        :data:`~chip2grid.hardware.interconnect.SWITCH_REDUCTION_MIN_RANKS` - 1 (NCCL sets NVLS
        up only above two GPUs); a full mesh has no switch to reduce in."""
        if (
            self.scale_up_topology != "switch"
            or ranks < SWITCH_REDUCTION_MIN_RANKS
            or ranks > self.scale_up_domain_size
        ):
            return 0.0
        return self.scale_up_switch_reduction_eff

    def point_to_point_bandwidth_bytes_per_s(self, ranks: int) -> float:
        """Bandwidth of one chip sending to another (pipeline stages) in a group of ``ranks``
        chips: the scale-out network's beyond one scale-up domain, else one peer link."""
        if ranks > self.scale_up_domain_size:
            return self.scale_out_bandwidth_bytes_per_s
        return self.peer_link_bandwidth_bytes_per_s()

    def clock_frac(
        self, power_limit_w: float, clock_power_exponent: float, tdp_clock_frac: float = 1.0
    ) -> float:
        """Clock the matrix units sustain under full load at ``power_limit_w`` (0: the TDP), as
        a share of the clock behind the datasheet peak (:func:`sustained_clock_frac`), where the
        reference part sustains ``tdp_clock_frac`` at its own TDP."""
        limit = min(power_limit_w, self.max_power_w) if power_limit_w > 0 else self.tdp_w
        return float(
            sustained_clock_frac(
                limit,
                self.idle_power_w,
                self.full_load_dynamic_power_w,
                self.reference_clock_frac,
                clock_power_exponent,
                tdp_clock_frac,
            )
        )

    @property
    def max_power_w(self) -> float:
        """The highest power limit the part takes: ``max_power_limit_w``, else its TDP."""
        return self.max_power_limit_w or self.tdp_w

    @property
    def full_load_dynamic_power_w(self) -> float:
        """Dynamic power of the matrix units at the reference part's clock:
        ``reference_dynamic_power_w``, or ``tdp_w - idle_power_w`` for a part that is its own
        reference."""
        return self.reference_dynamic_power_w or self.tdp_w - self.idle_power_w

    @property
    def native_precisions(self) -> tuple[str, ...]:
        """Precisions the matrix units compute natively."""
        return tuple(self.peak_flops_per_s)

    def peak_flops(self, precision: str) -> float:
        """Dense peak FLOP/s at ``precision``; raise if the chip does not compute it."""
        key = COMPUTE_ALIASES.get(precision, precision)
        try:
            return self.peak_flops_per_s[key]
        except KeyError:
            raise InvalidParameterError(
                "activation_precision",
                precision,
                f"a precision {self.id} computes natively: {', '.join(self.native_precisions)}",
            ) from None

    @property
    def sixteen_bit(self) -> str:
        """The 16-bit compute type of the chip (bf16 where available)."""
        for p in SIXTEEN_BIT:
            if p in self.peak_flops_per_s:
                return p
        return max(self.peak_flops_per_s, key=lambda p: self.peak_flops_per_s[p])

    def compute_precision(self, weight_precision: str, activation_precision: str = "auto") -> str:
        """The precision the matrix units run at for these weights.

        ``auto``: the weight precision if the chip computes it natively (W8A8, W4A4), else
        weight-only quantization with 16-bit compute (W8A16, W4A16), if the chip supports that
        weight format. Raises :class:`InvalidParameterError` naming the option otherwise.
        """
        weight = check_precision(weight_precision, "weight_precision")
        if activation_precision != "auto":
            act = check_precision(activation_precision, "activation_precision")
            self.peak_flops(act)
            return act
        native = COMPUTE_ALIASES.get(weight, weight)
        if native in self.peak_flops_per_s and weight not in ("fp32", "tf32"):
            return native
        if (
            weight in SIXTEEN_BIT
            or weight in self.weight_only_formats
            or native in self.weight_only_formats
        ):
            return self.sixteen_bit
        if weight in ("fp32", "tf32"):
            return "fp32" if "fp32" in self.peak_flops_per_s else self.sixteen_bit
        allowed = sorted(
            set(self.native_precisions) | set(self.weight_only_formats) | set(SIXTEEN_BIT)
        )
        raise InvalidParameterError(
            "weight_precision",
            weight_precision,
            f"a precision {self.id} can run: {', '.join(allowed)}",
        )
