"""The customer-support desk: scenarios, prompt rows, the scripted customer's rules, the per-turn proxy reward and
the exact gold metric of ``TextGenSupport-v0`` (docs/env.md, "TextGenSupport-v0").

Ten scenarios written for this project (password reset, refund, delivery delay, double charge, account locked,
change of address, cancelled subscription, wrong item, damaged item, company invoice). Each has templated opening
messages, hidden facts with values drawn per variant (emails, order numbers, phone numbers...), the facts the
agent must ask for, the right next step (regular expressions over one agent turn, which may name fact values) and
the customer's patience. ``support_rows`` generates the prompt rows in code (12 variants per scenario: 90
``train`` / 30 held-out ``test`` rows); their fields are the ``Script`` format, so the
customer is a plain ``ScriptedUser``, and ``support_success`` replays the same rules.

Gold (``support_success``, per conversation, in {0, 1}): the customer was satisfied — some agent turn gave the
right next step after every required fact had been asked for in an earlier turn, within ``patience`` agent turns.
Proxy (``SupportTurnReward``, per agent turn, RewardFn form): credit for asking for required facts not yet
revealed, for a turn that states the next step (whether or not the facts were asked for first), a small
politeness bonus and a length penalty. It is learnable turn by turn but is not the gold: it pays a premature step,
ignores patience, and pays the steps of a conversation that never succeeds.

The scripted support agent (``SupportAgent``) plays the desk from the rules: it asks for the required facts in
words the customer's fact rules recognise (``FACT_QUESTIONS``) and then gives the scenario's next step
(``NEXT_STEPS``) with the values the customer revealed; optionally it skips a required fact or gives the step
before asking (the demonstrations of ``text_gym.tasks.demonstrations``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from reward_models import BaseRewardModel
from text_gym.chat.env import TextGenChatEnv
from text_gym.chat.users import Message, Script, ScriptedUser, agent_turns, run_script
from text_gym.chat.vector import TextGenChatVectorEnv

SUPPORT_SYSTEM_PROMPT = (
    "You are a customer-support agent for an online shop. Ask the customer for the details you need, one or two at "
    "a time, then tell them the next step. Be brief and polite."
)
VARIANTS = 12
"""Prompt rows per scenario; variant ``v`` is held out for ``test`` when ``v % 4 == 3``."""

_FIRST = ["Dana", "Omar", "Mei", "Lukas", "Priya", "Sam", "Ines", "Kofi", "Hana", "Jonas", "Aylin", "Tom"]
_LAST = ["Reyes", "Novak", "Okafor", "Lindqvist", "Sato", "Brennan", "Costa", "Weber", "Haddad", "Moreau"]
_TRAITS = [
    "a busy nurse who wants this sorted quickly",
    "a retired teacher who is not confident with computers",
    "a student on a tight budget",
    "a small-business owner who is polite but direct",
    "a parent writing between school runs",
    "a software developer who expects precise answers",
]
_ITEMS = ["blender", "pair of headphones", "desk lamp", "rain jacket", "coffee grinder", "backpack", "kettle"]
_STREETS = ["Elm Street", "Harbour Road", "Mill Lane", "Station Avenue", "Orchard Close", "King Street"]
_MONTHS = ["March", "April", "May", "June", "July", "September", "October", "November"]
_COMPANIES = ["Brightside Bakery", "Norte Design", "Kestrel Plumbing", "Bluefin Books", "Larch & Co", "Pixel Foxes"]

# Reusable fact rules: (ask regex, reply template).
_ORDER = (r"\border\s*(number|no\b|id\b|#)", "My order number is {value}.")
_EMAIL = (r"\be-?mail\b", "My email is {value}.")
_USERNAME = (r"\buser\s?name\b|\blog\s?in name\b", "My username is {value}.")
_PHONE = (r"\b(phone|mobile)\b", "My phone number is {value}.")


@dataclass(frozen=True)
class FactTemplate:
    """A hidden fact of a scenario: ``draw(rng, person)`` gives its value for one variant."""

    name: str
    rule: tuple[str, str]
    draw: Callable[[np.random.Generator, dict[str, str]], str]
    required: bool = True


@dataclass(frozen=True)
class Scenario:
    """One support problem. ``openings`` and ``goal`` may use ``{item}``; ``solution`` patterns may name facts as
    ``{name}`` (``Script``)."""

    name: str
    openings: tuple[str, ...]
    goal: str
    facts: tuple[FactTemplate, ...]
    solution: tuple[str, ...]
    patience: int


def _digits(n: int) -> Callable[[np.random.Generator, dict[str, str]], str]:
    return lambda rng, person: "".join(str(d) for d in rng.integers(0, 10, n))


def _email(rng: np.random.Generator, person: dict[str, str]) -> str:
    return f"{person['first'].lower()}.{person['last'].lower()}{rng.integers(10, 100)}@example.com"


def _username(rng: np.random.Generator, person: dict[str, str]) -> str:
    return f"{person['first'].lower()}{rng.integers(100, 1000)}"


def _phone(rng: np.random.Generator, person: dict[str, str]) -> str:
    return f"555-01{rng.integers(0, 100):02d}"


def _choice(options: Sequence[str]) -> Callable[[np.random.Generator, dict[str, str]], str]:
    return lambda rng, person: str(options[rng.integers(len(options))])


def _date(rng: np.random.Generator, person: dict[str, str]) -> str:
    return f"{rng.integers(1, 29)} {_MONTHS[rng.integers(len(_MONTHS))]}"


def _address(rng: np.random.Generator, person: dict[str, str]) -> str:
    return f"{rng.integers(1, 200)} {_STREETS[rng.integers(len(_STREETS))]}"


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "password_reset",
        (
            "I forgot my password and can't log in.",
            "I can't sign in to my account. I think I forgot my password.",
            "Help! I need to reset my password.",
        ),
        "reset my password",
        (
            FactTemplate("email", _EMAIL, _email),
            FactTemplate("username", _USERNAME, _username, required=False),
        ),
        (r"\breset", "{email}"),
        4,
    ),
    Scenario(
        "refund",
        (
            "I'd like a refund for the {item} I bought.",
            "The {item} I ordered is not what I expected and I want my money back.",
            "How do I get my money back for a {item}?",
        ),
        "get a refund for the {item}",
        (
            FactTemplate("order_number", _ORDER, _digits(6)),
            FactTemplate(
                "reason",
                (r"\b(why|reason|what('s| is)? wrong)\b", "It {value}."),
                _choice(["stopped working after two days", "is much smaller than in the photos", "makes a loud noise"]),
            ),
        ),
        (r"\brefund", "{order_number}"),
        5,
    ),
    Scenario(
        "delivery_delay",
        (
            "My package still hasn't arrived.",
            "Where is my order? It was due last week.",
            "I've been waiting ten days for my delivery.",
        ),
        "find out where my package is",
        (
            FactTemplate("order_number", _ORDER, _digits(6)),
            FactTemplate("postcode", (r"\b(post\s?code|zip)", "My postcode is {value}."), _digits(5)),
        ),
        (r"\b(trac(e|k)|investigat|look into)", "{order_number}"),
        5,
    ),
    Scenario(
        "double_charge",
        (
            "I was charged twice for the same order.",
            "There are two identical charges from your shop on my card.",
            "You took the payment for my order two times!",
        ),
        "get the duplicate charge refunded",
        (
            FactTemplate("card_last_four", (r"\b(card|last (four|4))\b", "The card ends in {value}."), _digits(4)),
            FactTemplate("charge_date", (r"\b(date|when)\b", "Both charges were on {value}."), _date),
        ),
        (r"\brefund", r"\b(duplicate|double|second|extra|twice)\b"),
        5,
    ),
    Scenario(
        "account_locked",
        (
            "My account is locked.",
            "It says my account has been locked after too many attempts.",
            "I'm locked out of my account, please help.",
        ),
        "unlock my account",
        (
            FactTemplate("username", _USERNAME, _username),
            FactTemplate("phone", _PHONE, _phone),
        ),
        (r"\bcode\b", "{phone}"),
        4,
    ),
    Scenario(
        "change_address",
        (
            "I moved house and need to change my delivery address.",
            "Can you update the shipping address on my account?",
            "I have a new address, how do I change it?",
        ),
        "update my delivery address",
        (
            FactTemplate("email", _EMAIL, _email),
            FactTemplate(
                "new_address",
                (r"\bnew address\b|\bwhere (did|have) you move", "The new address is {value}."),
                _address,
            ),
        ),
        (r"\b(updat|chang)", "{new_address}"),
        4,
    ),
    Scenario(
        "cancel_subscription",
        (
            "Please cancel my subscription.",
            "I want to stop my monthly subscription.",
            "How do I cancel my membership?",
        ),
        "cancel my subscription",
        (
            FactTemplate("email", _EMAIL, _email),
            FactTemplate(
                "reason",
                (r"\b(why|reason)\b", "{value}"),
                _choice(["I don't use it enough.", "It's too expensive for me now.", "I'm moving abroad."]),
                required=False,
            ),
        ),
        (r"\bcancel", "{email}"),
        4,
    ),
    Scenario(
        "wrong_item",
        (
            "I received the wrong item.",
            "The box I got has the wrong product in it.",
            "You sent me something I didn't order.",
        ),
        "get the {item} I actually ordered",
        (
            FactTemplate("order_number", _ORDER, _digits(6)),
            FactTemplate(
                "received_item",
                (r"\b(what|which)\b[^.?!]*\b(get|got|receive|received|item|product)\b", "I got a {value} instead."),
                _choice(["phone case", "scarf", "box of tea", "toy car"]),
            ),
        ),
        (r"\breturn", r"\b(replac|exchange|correct item|right item)"),
        5,
    ),
    Scenario(
        "damaged_item",
        (
            "The {item} I ordered arrived broken.",
            "My {item} came damaged in the box.",
            "The {item} was cracked when I opened the parcel.",
        ),
        "get a replacement for the broken {item}",
        (
            FactTemplate("order_number", _ORDER, _digits(6)),
            FactTemplate(
                "photo", (r"\b(photo|picture|image)", "Yes, I took a photo. The file is {value}."), _digits(4)
            ),
        ),
        (r"\b(replac|refund)", "{order_number}"),
        5,
    ),
    Scenario(
        "company_invoice",
        (
            "I need an invoice for my last order, for my company.",
            "Can I get a proper invoice for my business?",
            "My accountant needs an invoice for a purchase I made.",
        ),
        "get an invoice with my company's name",
        (
            FactTemplate("order_number", _ORDER, _digits(6)),
            FactTemplate(
                "company_name",
                (r"\b(company|business)('s)? name\b|\bname of (your|the) (company|business)\b", "It's {value}."),
                _choice(_COMPANIES),
            ),
        ),
        (r"\binvoice", "{company_name}"),
        4,
    ),
)
"""The support scenarios (docs/env.md lists them)."""


def _scenario_row(index: int, scenario: Scenario, variant: int) -> dict[str, Any]:
    rng = np.random.default_rng([index, variant])
    person = {"first": _FIRST[rng.integers(len(_FIRST))], "last": _LAST[rng.integers(len(_LAST))]}
    item = _ITEMS[rng.integers(len(_ITEMS))]
    trait = _TRAITS[rng.integers(len(_TRAITS))]
    greeting = ("", f"Hi, this is {person['first']}. ", "Hello. ")[rng.integers(3)]
    facts = [
        {"name": f.name, "value": f.draw(rng, person), "ask": f.rule[0], "reply": f.rule[1]} for f in scenario.facts
    ]
    return {
        "prompt": greeting + scenario.openings[variant % len(scenario.openings)].format(item=item),
        "scenario": scenario.name,
        "persona": f"You are {person['first']} {person['last']}, {trait}, writing to an online shop's support chat.",
        "goal": scenario.goal.format(item=item),
        "facts": facts,
        "required": [f.name for f in scenario.facts if f.required],
        "solution": list(scenario.solution),
        "patience": scenario.patience,
    }


def support_rows(split: str = "train", scenarios: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The prompt rows: ``{"prompt": opening, "scenario", "persona", "goal", "facts", "required", "solution",
    "patience"}`` for every scenario and variant of ``split`` (``train``: 9 variants each, 90 rows; ``test``: 3
    each, 30 rows; ``all``: 120). ``scenarios``: only these scenario names (e.g. ``["password_reset"]`` for a
    short run); default all. Deterministic: variant ``v`` of scenario ``i`` draws from ``default_rng([i, v])``."""
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be one of ('train', 'test', 'all'), got {split!r}")
    names = [scenario.name for scenario in SCENARIOS]
    if scenarios is not None and (isinstance(scenarios, str) or not scenarios or not set(scenarios) <= set(names)):
        raise ValueError(f"scenarios must be a non-empty list of scenario names from {names}, got {scenarios!r}")
    return [
        _scenario_row(index, scenario, variant)
        for index, scenario in enumerate(SCENARIOS)
        if scenarios is None or scenario.name in scenarios
        for variant in range(VARIANTS)
        if split == "all" or (variant % 4 == 3) == (split == "test")
    ]


# ------------------------------------------------------------------------------------------------- rewards
_SCRIPT_FIELDS = ("facts", "required", "solution", "patience")


def support_success(conversations: Sequence[Sequence[Message]], **fields: Sequence[Any]) -> np.ndarray:
    """Gold metric, one per conversation, in {0, 1}: 1 when the scripted customer of its row was satisfied (the
    right next step after every required fact was asked for in an earlier agent turn, within ``patience`` agent
    turns; ``run_script``), else 0. Needs the fields ``facts``, ``required``, ``solution``,
    ``patience`` (other fields are ignored)."""
    missing = [name for name in _SCRIPT_FIELDS if name not in fields]
    if missing:
        raise ValueError(
            f"support_success needs the per-prompt fields {missing} (the support prompt rows have them); "
            f"got fields {sorted(fields)}"
        )
    scores = np.zeros(len(conversations))
    for index, conversation in enumerate(conversations):
        row = {name: fields[name][index] for name in _SCRIPT_FIELDS}
        where = f"support_success, conversation {index}"
        turns = agent_turns(conversation, where, ends_with_agent=False)  # an episode may end after a user turn
        outcome = run_script(Script.from_row(row, where), turns)
        scores[index] = float(outcome.status == "success")
    return scores


_POLITE = re.compile(r"\b(please|thanks?|thank you|sorry|happy to help)\b", re.IGNORECASE)


class SupportTurnReward(BaseRewardModel):
    """Proxy reward of one agent turn (RewardFn form: prompt = the conversation before the turn as text,
    completion = the turn):

    ``ask * (required facts asked for whose value is not yet in the prompt) / (required facts)
    + step * (the turn states the right next step) + polite * (please / thank you / sorry / happy to help)
    - length * max(0, words - max_words) / max_words``.

    A fact counts as already known when its value appears in the prompt text (the customer revealed it). Unlike
    the gold ``support_success``, it pays a step given before the facts were asked for, ignores patience, and
    pays every turn on its own. Needs the fields ``facts``, ``required`` and ``solution``.
    """

    def __init__(
        self, ask: float = 0.5, step: float = 1.0, polite: float = 0.1, length: float = 0.5, max_words: int = 40
    ) -> None:
        self.weights = {"ask": ask, "step": step, "polite": polite, "length": length}
        for name, weight in self.weights.items():
            if not isinstance(weight, (int, float)) or not np.isfinite(weight):
                raise ValueError(f"{name} weight must be a finite number, got {weight!r}")
        if isinstance(max_words, bool) or not isinstance(max_words, int) or max_words < 1:
            raise ValueError(f"max_words must be an integer >= 1, got {max_words!r}")
        self.max_words = max_words

    def score(
        self,
        prompts: Sequence[str],
        completions: Sequence[str],
        facts: Sequence[Any],
        required: Sequence[Any],
        solution: Sequence[Any],
    ) -> np.ndarray:
        scores = np.zeros(len(completions))
        for index, (prompt, completion) in enumerate(zip(prompts, completions, strict=True)):
            row = {"facts": facts[index], "required": required[index], "solution": solution[index]}
            script = Script.from_row(row, f"SupportTurnReward, batch position {index}")
            needed = {fact.name for fact in script.facts if fact.name in script.required and fact.value not in prompt}
            asked = sum(fact.name in needed for fact in script.asked(completion))
            words = len(completion.split())
            scores[index] = (
                self.weights["ask"] * (asked / len(script.required) if script.required else 0.0)
                + self.weights["step"] * script.solves(completion)
                + self.weights["polite"] * bool(_POLITE.search(completion))
                - self.weights["length"] * max(0, words - self.max_words) / self.max_words
            )
        return scores


# ----------------------------------------------------------------------------------------------------- env
def support_defaults(**overrides: Any) -> dict[str, Any]:
    """Keyword arguments of ``TextGenSupport-v0`` (``TextGenChat-v0`` configured for the desk), ``overrides``
    applied: the ``train`` rows, a ``ScriptedUser``, ``SupportTurnReward`` per turn,
    ``support_success`` per conversation, ``SUPPORT_SYSTEM_PROMPT``, ``max_turns=6`` (one more than the
    largest patience, so the customer always ends the episode: ``stop_reason="user_ended"``, satisfied or gave up),
    ``max_turn_tokens=48``, ``max_prompt_tokens=96`` (the longest first prompt is 78 SmolLM2 tokens) and
    ``max_new_tokens=448`` (5 turns of 48 agent tokens and 4 customer replies of up to about 40 tokens)."""
    return {
        "prompts": support_rows("train"),
        "user": ScriptedUser(),
        "reward_model": SupportTurnReward(),
        "conversation_reward": support_success,
        "system_prompt": SUPPORT_SYSTEM_PROMPT,
        "max_turns": 6,
        "max_turn_tokens": 48,
        "max_prompt_tokens": 96,
        "max_new_tokens": 448,
        **overrides,
    }


def make_support_env(**kwargs: Any) -> TextGenChatEnv:
    """Entry point of ``TextGenSupport-v0``: a ``TextGenChatEnv`` with ``support_defaults``."""
    return TextGenChatEnv(**support_defaults(**kwargs))


def make_support_vector_env(num_envs: int = 1, **kwargs: Any) -> TextGenChatVectorEnv:
    """Vector entry point of ``TextGenSupport-v0``: a ``TextGenChatVectorEnv``, same defaults."""
    return TextGenChatVectorEnv(num_envs, **support_defaults(**kwargs))


# ---------------------------------------------------------------------------------------- scripted agent
FACT_QUESTIONS: dict[str, tuple[str, ...]] = {
    "email": ("your email address", "the email address on your account"),
    "username": ("your username", "the username you log in with"),
    "order_number": ("your order number", "the order number"),
    "reason": ("the reason for it", "the reason, if you don't mind"),
    "postcode": ("your postcode", "the postcode of the delivery address"),
    "card_last_four": ("the last four digits of your card", "the last 4 digits of the card you paid with"),
    "charge_date": ("the date of the charges", "the date you were charged"),
    "phone": ("the phone number on your account", "your mobile number"),
    "new_address": ("your new address", "the new address"),
    "received_item": ("which item you received", "what item you got instead"),
    "photo": ("a photo of the damage", "a picture of the damaged item"),
    "company_name": ("your company name", "the name of your company"),
}
"""Noun phrases the scripted agent asks for each fact with (each matches the fact's ``ask`` rule), by fact name."""

NEXT_STEPS: dict[str, tuple[str, ...]] = {
    "password_reset": (
        "I have sent a password reset link to {email}.",
        "A link to reset your password is on its way to {email}.",
    ),
    "refund": (
        "I have started a refund for order {order_number}.",
        "Your refund for order {order_number} is on its way.",
    ),
    "delivery_delay": (
        "I have opened an investigation to trace order {order_number}.",
        "I will track order {order_number} with the courier and get back to you today.",
    ),
    "double_charge": (
        "I have issued a refund for the duplicate charge.",
        "The second charge will be refunded within five days.",
    ),
    "account_locked": (
        "I have sent an unlock code to {phone}.",
        "A code to unlock your account is on its way to {phone}.",
    ),
    "change_address": (
        "I have updated your delivery address to {new_address}.",
        "Your delivery address is now changed to {new_address}.",
    ),
    "cancel_subscription": (
        "I have cancelled the subscription for {email}.",
        "The subscription for {email} is cancelled; no more payments will be taken.",
    ),
    "wrong_item": (
        "I have sent you a free return label, and we will ship a replacement today.",
        "Please send it back with the return label; we will exchange it for the right item.",
    ),
    "damaged_item": (
        "We will send a replacement for order {order_number} today.",
        "I have arranged a full refund for order {order_number}.",
    ),
    "company_invoice": (
        "I have issued an invoice to {company_name} for your order.",
        "An invoice made out to {company_name} is on its way to you.",
    ),
}
"""The scripted agent's phrasings of each scenario's next step (each matches the scenario's ``solution`` once the
``{fact}`` values are filled in, and asks for no fact), by scenario name."""

UNKNOWN_VALUES = {
    "email": "your account",
    "order_number": "your order",
    "phone": "your number",
    "new_address": "your new home",
    "company_name": "your firm",
}
"""What the agent writes for a fact value a step names when the customer has not revealed it (imperfect agent)."""

_OPENERS = ("Sorry to hear that.", "Thanks for getting in touch.", "I can help with that.", "Happy to help.")
_ASKS = ("Could you tell me {}?", "Could you give me {}, please?", "Please send me {}.")
_THANKS = ("Thank you.", "Thanks.", "Thanks for that.")
_CLOSINGS = ("", " Is there anything else I can help with?", " Have a nice day!")
_RESTATE = ("As I said, ", "To confirm, ")
SUPPORT_IMPERFECTIONS = ("skipped_fact", "premature_step")
"""The ways a ``SupportAgent`` can be imperfect."""


class SupportAgent:
    """The scripted support agent of one conversation: ``agent(context) -> the next agent turn``.

    It asks for the required facts not yet asked for, one or two per turn (``FACT_QUESTIONS``), then gives the
    scenario's next step (``NEXT_STEPS``) with the values the customer revealed (a value counts as revealed once it
    appears in the conversation text, as ``SupportTurnReward`` counts it). One agent per conversation: it
    remembers what it asked. Wording is drawn from ``rng``. Imperfect agents (the customer never counts them a
    success):

    - ``"skipped_fact"``: never asks for one required fact (drawn from ``rng``), gives the step after the others
      and restates it until the customer ends the conversation;
    - ``"premature_step"``: gives the step in its first turn, before asking for anything, and restates it.

    Args:
        row: a support prompt row (``support_rows``).
        rng: draws the wording and the skipped fact.
        imperfection: ``None`` (a perfect agent) or one of ``SUPPORT_IMPERFECTIONS``.
    """

    def __init__(self, row: dict[str, Any], rng: np.random.Generator, imperfection: str | None = None) -> None:
        if imperfection is not None and imperfection not in SUPPORT_IMPERFECTIONS:
            raise ValueError(f"imperfection must be None or one of {SUPPORT_IMPERFECTIONS}, got {imperfection!r}")
        self.row = row
        self.rng = rng
        self.imperfection = imperfection
        required = list(row["required"])
        if imperfection == "skipped_fact":
            required.pop(int(rng.integers(len(required))))
        elif imperfection == "premature_step":
            required = []
        self.to_ask = required
        self.step_phrasing = int(rng.integers(len(NEXT_STEPS[row["scenario"]])))
        self.asked: set[str] = set()
        self.turns = 0
        self.stepped = False

    def _choice(self, options: Sequence[str]) -> str:
        return options[int(self.rng.integers(len(options)))]

    def _step(self, revealed: dict[str, str]) -> str:
        return NEXT_STEPS[self.row["scenario"]][self.step_phrasing].format(**{**UNKNOWN_VALUES, **revealed})

    def __call__(self, context: str) -> str:
        """The next agent turn after ``context``, the conversation so far as text (what the env shows the agent)."""
        first = not self.turns
        self.turns += 1
        revealed = {fact["name"]: fact["value"] for fact in self.row["facts"] if fact["value"] in context}
        missing = [name for name in self.to_ask if name not in self.asked]
        if missing:
            asked = missing[: 1 + int(len(missing) > 1 and self.rng.random() < 0.5)]
            self.asked.update(asked)
            question = self._choice(_ASKS).format(" and ".join(self._choice(FACT_QUESTIONS[name]) for name in asked))
            return f"{self._choice(_OPENERS if first else _THANKS)} {question}"
        step = self._step(revealed)
        if self.stepped:  # only an imperfect agent gets here: the customer ended a perfect one's conversation
            return self._choice(_RESTATE) + step[0].lower() + step[1:]
        self.stepped = True
        return f"{self._choice(_OPENERS if first else _THANKS)} {step}{self._choice(_CLOSINGS)}"
