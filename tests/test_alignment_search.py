"""Alignment search: interchange invariants, recovery of known directions, baselines."""

from __future__ import annotations

import math

import lightning as L
import pandas as pd
import pytest
import torch

from alignment_handmade import handmade_network
from knowloc.alignment import AlignmentSearch, InterchangeDataModule
from knowloc.alignment.artefacts import IIA, RESTARTS
from knowloc.alignment.baselines import neuron_iia
from knowloc.alignment.data import make_vocabulary, sample_equality, sample_triples
from knowloc.alignment.interchange import (base_label, counterfactual, forward_from, hidden_states, intervene,
                                           random_orthogonal, Rotations)


def _triples(n=512, seed=0):
    g = torch.Generator().manual_seed(seed)
    return sample_triples(n, make_vocabulary(200, 4, g), g)


def test_counterfactual_label_of_the_high_level_model():
    ab = torch.tensor([[True, False, True], [False, False, True]])   # base, source_ab, source_cd
    cd = torch.tensor([[True, True, False], [True, True, False]])
    # base labels: (T = T) = 1, (F = T) = 0
    assert base_label(ab, cd).tolist() == [1, 0]
    g1, g0 = torch.ones(1, 2), torch.zeros(1, 2)
    assert counterfactual(ab, cd, g1, g0).tolist() == [[0, 0]]      # a=b from source_ab: F
    assert counterfactual(ab, cd, g0, g1).tolist() == [[0, 1]]      # c=d from source_cd: F
    assert counterfactual(ab, cd, g1, g1).tolist() == [[1, 1]]      # both: (F = F)
    t = _triples(4000)
    for g in ((g1, g0), (g0, g1), (g1, g1)):
        changed = (counterfactual(t.ab, t.cd, torch.ones(1, 4000) * g[0][0, 0], torch.ones(1, 4000) * g[1][0, 0])
                   != base_label(t.ab, t.cd)).float().mean()
        assert abs(float(changed) - 0.5) < 0.03  # about half the pairs change the label


@pytest.mark.parametrize("kind", ["orthogonal", "linear"])
def test_base_as_its_own_source_changes_nothing(kind):
    net = handmade_network(random_orthogonal(1, 16, torch.Generator().manual_seed(1))[0])
    t = _triples(256)
    h = hidden_states(net, t.x[:, 0], [1, 2, 3])
    rot = Rotations(6, 16, kind, torch.Generator().manual_seed(2))
    R, back = rot()
    masks = torch.ones(6, 1, 16)
    with torch.no_grad():
        for layer, hb in h.items():
            same = torch.stack([hb, hb, hb])
            out = intervene(same, R, back, masks, masks)
            assert torch.allclose(out, hb.expand_as(out), atol=1e-5)
            assert torch.equal(forward_from(net, layer, out).argmax(-1), net(t.x[:, 0]).argmax(-1).expand(6, -1))


def test_full_interchange_copies_the_source():
    """With the whole space as the a=b subspace the intervened vector is the source's."""
    net = handmade_network()
    t = _triples(128)
    h = hidden_states(net, t.x.transpose(0, 1), [3])[3]
    R = random_orthogonal(2, 16, torch.Generator().manual_seed(3))
    out = intervene(h, R, R.transpose(-1, -2), torch.ones(2, 1, 16), torch.zeros(2, 1, 16))
    assert torch.allclose(out, h[1].expand_as(out), atol=1e-5)


def test_handmade_network_computes_hierarchical_equality():
    g = torch.Generator().manual_seed(0)
    x, y, ab, cd = sample_equality(2000, make_vocabulary(100, 4, g), g)
    net = handmade_network(random_orthogonal(1, 16, g)[0])
    assert torch.equal(net(x).argmax(1), y)
    # neuron-aligned storage: swapping neuron 0 at layer 3 is an exact a=b interchange
    t = _triples(1000)
    h = hidden_states(net, t.x.transpose(0, 1), [3])[3]
    net_id = handmade_network()
    h_id = hidden_states(net_id, t.x.transpose(0, 1), [3])[3]
    m = torch.zeros(1, 16)
    m[0, 0] = 1
    assert float(neuron_iia(net_id, 3, h_id, t.ab, t.cd, m, torch.zeros(1, 16))[0]) == 1.0
    assert h.shape == (3, 1000, 16)


def _search(tmp_path, Q, **kw):
    net = handmade_network(Q, **kw.pop("net", {}))
    dm = InterchangeDataModule(vocab_size=200, n_train=4000, n_test=2000, batch_size=256, seed=0)
    epochs = kw.pop("epochs", 12)
    module = AlignmentSearch(net, layers=kw.pop("layers", [3]), sizes=kw.pop("sizes", [1, 2]), variables=["ab", "cd", "both"],
                             lr=0.02, baseline_pairs=500, select_pairs=1000, seed=0, **kw)
    trainer = L.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=str(tmp_path))
    trainer.fit(module, datamodule=dm)
    trainer.test(module, datamodule=dm, verbose=False)
    table = pd.read_csv(IIA.at(tmp_path))
    return table.set_index(["layer", "size", "variable", "method"])


def test_search_recovers_rotated_directions_and_neurons_do_not(tmp_path):
    Q = random_orthogonal(1, 16, torch.Generator().manual_seed(5))[0]
    t = _search(tmp_path, Q)
    for v in ("ab", "cd", "both"):
        assert t.loc[(3, 1, v, "das"), "iia_changed"] > 0.97, v
        assert t.loc[(3, 1, v, "das"), "iia_all"] > 0.98, v
        # one neuron cannot hold a direction spread over all 16 neurons
        assert t.loc[(3, 1, v, "identity"), "iia_changed"] < 0.8, v
    # the "both" rotation also works on each variable alone
    assert t.loc[(3, 1, "ab", "das_joint"), "iia_changed"] > 0.97
    assert t.loc[(3, 1, "cd", "das_joint"), "iia_changed"] > 0.97
    # an untrained random rotation is no alignment
    assert t.loc[(3, 1, "ab", "random"), "iia_changed"] < 0.8
    assert set(t.columns) >= {"iia_all", "iia_changed", "train_iia", "restart", "n_pairs", "n_changed"}
    n_changed = t.loc[(3, 1, "ab", "das"), "n_changed"]
    assert 0.4 < n_changed / t.loc[(3, 1, "ab", "das"), "n_pairs"] < 0.6


def test_identity_baseline_finds_neuron_aligned_variables(tmp_path):
    t = _search(tmp_path, None, sizes=[1], baselines=["identity"])
    for v in ("ab", "cd", "both"):
        assert t.loc[(3, 1, v, "identity"), "iia_changed"] == 1.0
    assert t.loc[(3, 1, "ab", "identity"), "neurons"] == "0"
    assert t.loc[(3, 1, "cd", "identity"), "neurons"] == "1"


def test_last_hidden_layer_bounds_iia_at_three_quarters(tmp_path):
    """After the last hidden layer the readout is linear: logit = A(base) + B(source), which cannot
    express XNOR(source variable, base variable), so IIA on all pairs is <= 0.75 for any method."""
    Q = random_orthogonal(1, 16, torch.Generator().manual_seed(5))[0]
    t = _search(tmp_path, Q, layers=[4], sizes=[1, 2], epochs=4)
    assert (t["iia_all"] <= 0.78).all(), t["iia_all"].max()
    assert t["iia_all"].max() > 0.6


def test_restarts_are_recorded_and_selected_by_training_iia(tmp_path):
    Q = random_orthogonal(1, 16, torch.Generator().manual_seed(7))[0]
    _search(tmp_path, Q, sizes=[1], restarts=3, baselines=[], epochs=2)
    rs = pd.read_csv(RESTARTS.at(tmp_path))
    das = rs[(rs["method"] == "das") & rs["train_iia"].notna()]
    assert sorted(das["restart"].unique()) == [0, 1, 2]
    for _, g in das.groupby(["layer", "size", "variable"]):
        assert g["selected"].sum() == 1
        assert math.isclose(g.loc[g["selected"], "train_iia"].iloc[0], g["train_iia"].max())
    # restarts 0 and 1 start from the data; the random-start search is restart 2 alone, reported beside
    table = pd.read_csv(IIA.at(tmp_path))
    rnd = table[table["method"] == "das_random_start"]
    assert set(rnd["restart"]) == {2} and len(rnd) == len(table[table["method"] == "das"])
    for _, r in rnd.iterrows():
        same = rs[(rs["method"] == "das") & (rs["restart"] == 2) & (rs["size"] == r["size"])
                  & (rs["variable"] == r["variable"])]
        assert math.isclose(same["iia_changed"].iloc[0], r["iia_changed"])


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: one thread is fastest, and the machine is shared."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _difference_basis(first: int, second: int) -> torch.Tensor:
    """Rows (e_first+i - e_second+i) / sqrt(2), i < 4: the hand-built subspace of x_first - x_second."""
    B = torch.zeros(4, 16, dtype=torch.float64)
    for i in range(4):
        B[i, first + i], B[i, second + i] = 2 ** -0.5, -(2 ** -0.5)
    return B


def _cosines(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Cosines of the principal angles between the row spaces of A and B."""
    qa, _ = torch.linalg.qr(A.double().T)
    qb, _ = torch.linalg.qr(B.double().T)
    return torch.linalg.svdvals(qa.T @ qb)


def test_layer_zero_is_the_input():
    net = handmade_network()
    x = _triples(64).x.transpose(0, 1)
    assert hidden_states(net, x, [0, 2])[0] is x
    assert torch.equal(forward_from(net, 0, x[0]), net(x[0]))


def test_data_start_spans_the_difference_subspace_at_the_input():
    """At the input, a != b spreads x along the four (a - b) directions (and shrinks it along a + b),
    so the data start of restart 0 is the hand-built a=b subspace (c - d for c=d); restart 1 (largest
    |eigenvalue|) at k = 8 is span(a, b), which holds a=b too; restart 2 is random, as drawn."""
    from knowloc.alignment.starts import data_starts

    t = _triples(6000)
    configs = [(4, "ab"), (4, "cd"), (4, "both"), (8, "ab")]
    base = random_orthogonal(3 * len(configs), 16, torch.Generator().manual_seed(0))
    out = data_starts(t.x.transpose(0, 1), t.ab, t.cd, configs, base)
    eye = out @ out.transpose(-1, -2)
    assert torch.allclose(eye, torch.eye(16).expand_as(eye), atol=1e-5)  # every start is orthogonal
    ab, cd = _difference_basis(0, 4), _difference_basis(8, 12)
    assert _cosines(out[0, :4], ab).min() > 0.98
    assert _cosines(out[1, :4], cd).min() > 0.98
    assert _cosines(out[2, :4], ab).min() > 0.98 and _cosines(out[2, 4:8], cd).min() > 0.98
    span_ab = torch.eye(16, dtype=torch.float64)[:8]  # the coordinates of a and b
    assert _cosines(out[4 + 3, :8], span_ab).min() > 0.98  # restart 1, k = 8, a=b
    assert _cosines(out[3, :8], span_ab).min() < 0.9  # restart 0 at k = 8 is not span(a, b)
    assert torch.equal(out[8:], base[8:])  # restart 2: random, as drawn


def test_search_at_the_input_finds_the_difference_subspace(tmp_path):
    """The hand-built net reads a=b from |a_i - b_i|: interchanging the 4-dimensional (a - b)
    subspace at the input is a perfect intervention, and the data-started search finds it (with a
    soft equality detector, K = 1: at K = 10 a start a few degrees off reads every pair as unequal
    and gives no gradient)."""
    net = handmade_network(K=1.0)
    t = _triples(2000, seed=3)
    h = t.x.transpose(0, 1)
    R = torch.linalg.qr(torch.cat([_difference_basis(0, 4).float(), torch.eye(16)]).T)[0].T.contiguous()
    m = torch.zeros(1, 1, 16)
    m[..., :4] = 1
    pred = forward_from(net, 0, intervene(h, R[None], R.T[None], m, torch.zeros(1, 1, 16))).argmax(-1)
    y = counterfactual(t.ab, t.cd, torch.ones(1, 1), torch.zeros(1, 1))
    assert float((pred == y).float().mean()) == 1.0
    table = _search(tmp_path, None, layers=[0], sizes=[4], baselines=[], epochs=3, net={"K": 1.0})
    assert table.loc[(0, 4, "ab", "das"), "iia_changed"] >= 0.95
    assert table.loc[(0, 4, "cd", "das"), "iia_changed"] >= 0.95


def test_gated_intervention_equals_the_masked_one():
    h = torch.randn(3, 300, 16)
    R = random_orthogonal(5, 16, torch.Generator().manual_seed(1))
    m_ab, m_cd = (torch.rand(5, 16) > 0.5).float(), (torch.rand(5, 16) > 0.5).float()
    g_ab, g_cd = (torch.rand(5, 300) > 0.3).float(), (torch.rand(5, 300) > 0.6).float()
    from knowloc.alignment.interchange import intervene_gated

    for back in (R.transpose(-1, -2), torch.linalg.inv(R + 0.1 * torch.randn(5, 16, 16))):
        Rk = R if back is R.transpose(-1, -2) else torch.linalg.inv(back)
        want = intervene(h, Rk, back, m_ab[:, None] * g_ab[..., None], m_cd[:, None] * g_cd[..., None])
        got = intervene_gated(h, Rk, back, m_ab, m_cd, g_ab, g_cd)
        assert torch.allclose(got, want, atol=1e-4)


def test_cached_hidden_states_give_the_same_training_step():
    """A training batch that carries its triples' index looks the frozen net's hidden states up in
    the cache made once per fit; the step's loss is the one computed from the raw inputs."""
    net = handmade_network(random_orthogonal(1, 16, torch.Generator().manual_seed(5))[0])
    dm = InterchangeDataModule(vocab_size=200, n_train=600, n_test=100, seed=0)
    dm.setup()
    tr = dm.train_split
    m = AlignmentSearch(net, layers=[0, 3], sizes=[1, 2], variables=["ab", "cd", "both"], baselines=[], seed=0)
    m.log = m.log_dict = lambda *a, **k: None
    b = torch.arange(100, 356)
    plain = m.training_step((tr.x[b], tr.ab[b], tr.cd[b]), 0)
    m.cache_hidden_states(tr)
    cached = m.training_step((tr.x[b], tr.ab[b], tr.cd[b], b), 0)
    assert torch.allclose(plain, cached, rtol=1e-6, atol=1e-7)
    batch = next(iter(dm.train_dataloader()))
    assert len(batch) == 4 and torch.equal(batch[0], tr.x[batch[3]])


@pytest.mark.parametrize("key, value", [("select", "best"), ("variables", ["ab", "xy"]), ("rotations", ["cayley"]),
                                        ("baselines", ["neurons"]), ("init", "zeros"), ("orthogonal_map", "qr"),
                                        ("lr_schedule", "step"), ("restarts", 0), ("sizes", [0, 2]), ("lr", 0.0),
                                        ("exhaustive_limit", -1)])
def test_the_search_and_the_preflight_reject_an_option_with_the_same_line(key, value):
    """One source of truth (knowloc.alignment.options): the module built outside the CLI refuses a value
    with the line the preflight gives for ``alignment.<key>``; the choices are written nowhere else."""
    from omegaconf import OmegaConf

    from knowloc.alignment.options import SEARCH, SEARCH_RULES
    from knowloc.errors import ConfigValueError
    from knowloc.validation import RULES, validate

    assert RULES[SEARCH + key] is SEARCH_RULES[key]
    m = AlignmentSearch(handmade_network(), **{"layers": [1], "sizes": [1], key: value})
    with pytest.raises(ConfigValueError) as built:
        m.setup("fit")  # raised here, outside Hydra's instantiate
    with pytest.raises(ConfigValueError) as checked:
        validate(OmegaConf.create({"alignment": {key: value}}))
    assert str(built.value) == str(checked.value)
    assert str(built.value).startswith(f"alignment.{key}={value!r} is not allowed; expected ")


def test_the_search_holds_every_option_it_checks():
    """Each search option of the rules is an attribute of the module of the same name (rotations:
    ``kinds``; checkpoint belongs to the network loader), so the module checks all of them."""
    from knowloc.alignment.options import SEARCH_RULES

    m = AlignmentSearch(handmade_network(), layers=[1], sizes=[1])
    assert set(SEARCH_RULES) - {"rotations", "checkpoint"} <= set(vars(m))
    assert m.kinds == ["orthogonal"]


@pytest.mark.parametrize("key, value", [("vocab_size", 1), ("dim", 0)])
def test_the_data_modules_and_the_preflight_reject_a_size_with_the_same_line(key, value):
    from omegaconf import OmegaConf

    from knowloc.alignment.data import EqualityDataModule
    from knowloc.errors import ConfigValueError
    from knowloc.validation import validate

    with pytest.raises(ConfigValueError) as checked:
        validate(OmegaConf.create({"data": {key: value}}))
    for module in (EqualityDataModule, InterchangeDataModule):
        with pytest.raises(ConfigValueError) as built:
            module(**{key: value})
        assert str(built.value) == str(checked.value)
