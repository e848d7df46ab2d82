"""The optimizer step inside backward (agents/common/optimizer_in_backward.py): the same parameters as the standard
AdamW step after several updates, gradients freed during backward, the refused combinations (gradient accumulation,
global-norm clipping, float16 loss scaling, several processes), a non-finite gradient, and its state round trip."""

import copy
import math

import pytest
import torch
from tiny_lm import tiny_env, tiny_model

from agents import PPO, REINFORCE, AlgorithmConfig
from agents.common.model_setup import adamw, optimizer_for
from agents.common.optimizer_in_backward import OptimizerInBackward

INF = float("inf")


def _train(cls, in_backward: bool, **config):
    """An agent and its parameters before 4 updates of 2 minibatches (no clipping, a linear LR schedule)."""
    agent = cls(
        tiny_model(), tiny_env(8, eos_token_ids=[]), seed=0, learning_rate=1e-2, weight_decay=0.01, minibatch_size=4,
        max_grad_norm=INF, lr_schedule="linear", optimizer_in_backward=in_backward, **config,
    )  # fmt: skip
    initial = [p.detach().clone() for p in agent.policy.parameters()]
    agent.learn(8 * 4 * 4, progress_bar=False)
    return agent, initial


@pytest.mark.parametrize(("cls", "config"), [(REINFORCE, {}), (PPO, {"n_epochs": 2})], ids=["reinforce", "ppo"])
def test_parameters_after_several_updates_equal_the_standard_step(cls, config):
    (standard, initial), (fused, _) = _train(cls, False, **config), _train(cls, True, **config)
    assert isinstance(fused.optimizer.optimizer, OptimizerInBackward)
    assert fused.n_updates == standard.n_updates == 4
    for (name, p), q in zip(standard.policy.named_parameters(), fused.policy.parameters(), strict=True):
        torch.testing.assert_close(q, p, atol=1e-6, rtol=1e-5, msg=name)
    assert sum(not torch.equal(p, q) for p, q in zip(standard.policy.parameters(), initial, strict=True)) > 10


def test_gradients_are_freed_during_backward_and_the_norm_is_the_global_one():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    reference = [p.detach().clone().requires_grad_() for p in model.parameters()]
    optimizer = OptimizerInBackward(model.parameters(), lambda ps: adamw(ps, 0.1, 1e-8, 0.0))
    seen_grads = []
    model[0].weight.register_hook(lambda grad: seen_grads.append([p.grad is None for p in model[2].parameters()]))
    x = torch.randn(5, 4)
    model(x).square().sum().backward()
    assert seen_grads == [[True, True]]  # the last layer's gradients were already stepped and freed
    assert all(p.grad is None for p in model.parameters())
    w1, b1, w2, b2 = reference
    loss = (torch.tanh(x @ w1.T + b1) @ w2.T + b2).square().sum()
    expected = torch.linalg.vector_norm(torch.cat([g.flatten() for g in torch.autograd.grad(loss, reference)]))
    torch.testing.assert_close(optimizer.grad_norm(), expected)
    assert all(not torch.equal(p, q) for p, q in zip(model.parameters(), reference, strict=True))  # all stepped
    optimizer.zero_grad()
    assert float(optimizer.grad_norm()) == 0.0


def test_a_non_finite_gradient_skips_that_parameter_and_the_norm_says_so():
    first, second = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(3))
    optimizer = OptimizerInBackward([first, second], lambda ps: adamw(ps, 0.1, 1e-8, 0.0))
    (first.sum() + second.sum() * float("nan")).backward()
    assert torch.equal(second.detach(), torch.ones(3))  # not stepped
    assert not torch.equal(first.detach(), torch.ones(3))  # stepped before the NaN was seen
    assert not math.isfinite(float(optimizer.grad_norm()))


def test_state_dict_round_trip_continues_identically():
    def make():
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 2)
        return model, OptimizerInBackward(model.parameters(), lambda ps: adamw(ps, 0.1, 1e-8, 0.01))

    x = torch.randn(4, 3)
    model, optimizer = make()
    model(x).sum().backward()
    clone_model, clone_optimizer = make()
    clone_model.load_state_dict(model.state_dict())
    clone_optimizer.load_state_dict(copy.deepcopy(optimizer.state_dict()))  # as from a checkpoint file
    for group in clone_optimizer.param_groups:  # the LR schedule's write reaches the per-parameter optimizers
        group["lr"] = 0.05
    for group in optimizer.param_groups:
        group["lr"] = 0.05
    for m in (model, clone_model):
        m(x).square().sum().backward()
    for p, q in zip(model.parameters(), clone_model.parameters(), strict=True):
        assert torch.equal(p, q)
    assert clone_optimizer.optimizers[0].param_groups[0]["lr"] == 0.05
    with pytest.raises(ValueError, match="holds 2 per-parameter optimizers"):
        OptimizerInBackward([torch.nn.Parameter(torch.ones(1))], lambda ps: adamw(ps, 0.1, 1e-8, 0.0)).load_state_dict(
            optimizer.state_dict()
        )


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"max_grad_norm": INF, "gradient_accumulation_steps": 2}, "gradient_accumulation_steps=1, got 2"),
        ({"max_grad_norm": 1.0}, r"set max_grad_norm=inf \(no clipping\), got 1.0"),
        ({"max_grad_norm": INF, "compute_dtype": "float16"}, "float16 loss scaling"),
    ],
)
def test_refused_combinations(fields, match):
    with pytest.raises(ValueError, match=match):
        AlgorithmConfig(optimizer_in_backward=True, **fields)
    AlgorithmConfig(optimizer_in_backward=False, **fields)  # each is fine with the standard step


def test_several_processes_are_refused():
    params = list(torch.nn.Linear(2, 2).parameters())
    config = AlgorithmConfig(optimizer_in_backward=True, max_grad_norm=INF)
    with pytest.raises(ValueError, match=r"needs one process \(got 2\)"):
        optimizer_for(params, config, num_processes=2)
    assert isinstance(optimizer_for(params, config, num_processes=1), OptimizerInBackward)
    assert isinstance(optimizer_for(params, AlgorithmConfig(), num_processes=2), torch.optim.AdamW)


def test_resume_from_a_checkpoint_reproduces_the_uninterrupted_run(tmp_path):
    def make(folder):
        return REINFORCE(
            tiny_model(), tiny_env(4, eos_token_ids=[]), seed=0, learning_rate=1e-2, minibatch_size=2,
            max_grad_norm=INF, optimizer_in_backward=True, checkpoint_dir=str(folder),
        )  # fmt: skip

    full = make(tmp_path / "full")
    full.learn(4 * 4 * 3, progress_bar=False)
    first = make(tmp_path / "part")
    first.learn(4 * 4 * 2, progress_bar=False)
    resumed = make(tmp_path / "part")
    resumed.learn(4 * 4 * 3, resume_from=tmp_path / "part", progress_bar=False)
    assert resumed.n_updates == full.n_updates == 3
    for p, q in zip(full.policy.parameters(), resumed.policy.parameters(), strict=True):
        assert torch.equal(p, q)


def test_a_non_finite_loss_steps_nothing_and_warns():
    agent = REINFORCE(tiny_model(), tiny_env(4), seed=0, max_grad_norm=INF, optimizer_in_backward=True)
    before = [p.detach().clone() for p in agent.policy.parameters()]
    evaluate = agent.policy.forward

    def poisoned(*args, **kwargs):
        logprobs, values = evaluate(*args, **kwargs)
        return logprobs * float("nan"), values

    agent.policy.forward = poisoned
    with pytest.warns(RuntimeWarning, match="non-finite loss"):
        agent.learn(4 * 4, progress_bar=False)
    assert all(torch.equal(p, q) for p, q in zip(agent.policy.parameters(), before, strict=True))
