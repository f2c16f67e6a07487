"""Scale-up topology: a switch gives any group of chips their whole link bandwidth, a full
mesh only the links among the group (AMD Infinity Fabric, Gaudi 3, a 4-way NVLink bridge, a
4-GPU HGX H100 board). The step model costs collectives over those links; estimates note it."""

from __future__ import annotations

import dataclasses

import pytest

from chip2grid import InvalidParameterError, Load, Workload, estimate, get_accelerator
from tests.test_perf import dep


@pytest.mark.parametrize("acc_id", ["mi300x", "mi325x", "mi355x", "gaudi3", "h200-nvl"])
def test_mesh_parts_are_catalogued_as_full_mesh(acc_id: str) -> None:
    assert get_accelerator(acc_id).scale_up_topology == "full_mesh"


@pytest.mark.parametrize("acc_id", ["h100-sxm", "b200", "gb200", "a100-sxm-80gb", "tpu-v6e"])
def test_switched_parts_keep_their_whole_bandwidth_for_any_group(acc_id: str) -> None:
    acc = get_accelerator(acc_id)
    assert acc.scale_up_topology == "switch"
    for ranks in range(2, min(acc.scale_up_domain_size, 8) + 1):
        assert acc.collective_bandwidth_bytes_per_s(ranks) == acc.scale_up_bandwidth_bytes_per_s
        assert acc.point_to_point_bandwidth_bytes_per_s(ranks) == (
            acc.scale_up_bandwidth_bytes_per_s
        )


def test_mi300x_mesh_gives_a_group_the_links_among_it() -> None:
    acc = get_accelerator("mi300x")  # 7 links of 64 GB/s per direction
    assert acc.peer_link_bandwidth_bytes_per_s() == pytest.approx(64e9)
    assert acc.collective_bandwidth_bytes_per_s(2) == pytest.approx(64e9)
    assert acc.collective_bandwidth_bytes_per_s(4) == pytest.approx(192e9)
    assert acc.collective_bandwidth_bytes_per_s(8) == pytest.approx(448e9)
    assert acc.collective_bandwidth_bytes_per_s(16) == acc.scale_out_bandwidth_bytes_per_s
    # a pipeline stage sends to one peer over one link, or over the network between boards
    assert acc.point_to_point_bandwidth_bytes_per_s(8) == pytest.approx(64e9)
    assert acc.point_to_point_bandwidth_bytes_per_s(16) == acc.scale_out_bandwidth_bytes_per_s


def test_unknown_topology_names_the_field_and_the_choices() -> None:
    acc = get_accelerator("mi300x")
    with pytest.raises(InvalidParameterError, match=r"scale_up_topology.*switch or full_mesh"):
        dataclasses.replace(acc, scale_up_topology="torus")


def _notes(acc_id: str, num: int, tp: int, pp: int = 1) -> list[str]:
    d = dep(accelerator=get_accelerator(acc_id), num_accelerators=num, tp=tp, pp=pp)
    return estimate(d, Workload(input_tokens=2000, output_tokens=500), Load()).notes


def test_an_estimate_says_where_a_mesh_layout_reaches_fewer_links_than_the_whole_chip() -> None:
    (note,) = [n for n in _notes("mi300x", 8, 2) if "peer links" in n]
    assert "1 of the 7 peer links (64 GB/s" in note and "448 GB/s" in note
    (note,) = [n for n in _notes("mi300x", 8, 2, pp=2) if "peer links" in n]
    assert "pipeline stage sends over one link (64 GB/s)" in note
    # every link in the group, a switch, or no collective: nothing to say
    for acc_id, num, tp in (("mi300x", 8, 8), ("h100-sxm", 8, 2), ("mi300x", 1, 1)):
        assert not [n for n in _notes(acc_id, num, tp) if "peer links" in n], acc_id


def _allreduce_s(acc_id: str, tp: int, **scale_up: object) -> float:
    acc = get_accelerator(acc_id).with_scale_up(**scale_up)  # type: ignore[arg-type]
    d = dep(accelerator=acc, num_accelerators=tp, tp=tp)
    est = estimate(d, Workload(input_tokens=2000, output_tokens=500), Load())
    return est.prefill.operators_s["tp_allreduce"]


def test_a_mesh_group_smaller_than_the_board_pays_for_its_fewer_links() -> None:
    # MI300X TP2 reaches 1 of 7 links; costed as a switch it would reach all 7
    mesh = _allreduce_s("mi300x", 2)
    switch = _allreduce_s("mi300x", 2, topology="switch")
    assert mesh > 3.0 * switch
    # the whole board reaches every link: no difference
    assert _allreduce_s("mi300x", 8) == pytest.approx(_allreduce_s("mi300x", 8, topology="switch"))


def test_a_4_gpu_hgx_h100_board_gives_a_pair_a_third_of_the_links() -> None:
    acc = get_accelerator("h100-sxm")
    board = acc.with_scale_up(4, "full_mesh")
    assert board.scale_up_bandwidth_bytes_per_s == acc.scale_up_bandwidth_bytes_per_s
    assert board.collective_bandwidth_bytes_per_s(2) == pytest.approx(150e9)  # NV6: 6 x 25 GB/s
    assert board.collective_bandwidth_bytes_per_s(4) == pytest.approx(450e9)
    assert board.collective_bandwidth_bytes_per_s(8) == acc.scale_out_bandwidth_bytes_per_s
    assert acc.with_scale_up() is acc
    slower = _allreduce_s("h100-sxm", 2, domain_size=4, topology="full_mesh")
    assert slower > 2.0 * _allreduce_s("h100-sxm", 2)
    with pytest.raises(InvalidParameterError, match="scale_up_domain_size"):
        acc.with_scale_up(-1)
    with pytest.raises(InvalidParameterError, match=r"scale_up_topology.*switch or full_mesh"):
        acc.with_scale_up(4, "ring")


def test_measured_4_gpu_boards_are_validated_as_meshes(measurements_path: str) -> None:
    from chip2grid.validation import load_cases
    from chip2grid.validation.predict import case_deployment

    cases = {c.case_id: c for c in load_cases(measurements_path)}
    for prefix in ("mlperf-v4.1-0018-", "mlperf-v4.1-0019-", "mlperf-v4.1-0026-"):
        mine = [c for c in cases.values() if c.case_id.startswith(prefix)]
        assert mine, prefix
        for case in mine:
            acc = case_deployment(case).accelerator
            assert (acc.scale_up_domain_size, acc.scale_up_topology) == (4, "full_mesh")
    # an 8-GPU NVSwitch board of the same round keeps the catalog's switch
    acc = case_deployment(cases["mlperf-v4.1-0043-llama2-70b-99.9-offline"]).accelerator
    assert (acc.scale_up_domain_size, acc.scale_up_topology) == (8, "switch")
