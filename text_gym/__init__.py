"""text-gym: text generation as a Gymnasium environment.

``import text_gym`` registers ``TextGen-v0`` (single env ``TextGenEnv``, vector entry point
``TextGenVectorEnv``), so ``gym.make("TextGen-v0")`` and ``gym.make_vec("TextGen-v0", num_envs=N)`` work;
``gym.make("text_gym:TextGen-v0")`` imports it on the fly. ``TextGenChar-v0`` is the small-vocabulary variant
(one action per character, ``text_gym.envs.char_level``). ``TextGenChat-v0`` (``TextGenChatEnv``,
``TextGenChatVectorEnv``) is a multi-turn conversation with a simulated user (``text_gym.chat.users``);
``TextGenSupport-v0`` is it configured as a customer-support desk with a scripted customer
(``text_gym.tasks.support``).
The benchmark suite ``TextGenSentiment-v0``, ``TextGenKeyword-v0``, ``TextGenStory-v0``, ``TextGenDialogue-v0``,
the procedural verifiable-reward tasks ``TextGenInstruct-v0``, ``TextGenArithmetic-v0`` and ``TextGenReasoning-v0``
(reasoning-gym's datasets, ``text_gym.tasks.reasoning``) and the harmlessness task ``TextGenSafety-v0`` is in
``text_gym.tasks.suite``. Prompts with per-prompt fields (dataset columns passed to rewards):
``text_gym.prompts.rows``, ``text_gym.prompts.generated``. ``task_demonstrations`` writes demonstration
conversations of the support, arithmetic and instruct tasks from their own rules (``text_gym.tasks.demonstrations``).
"""

from gymnasium.envs.registration import register, registry

from reward_models import register_reward_models
from reward_models.common.moved_modules import alias_moved_modules
from text_gym.chat.env import TextGenChatEnv
from text_gym.chat.settings import TextGenChatSettings
from text_gym.chat.template import ChatTemplate
from text_gym.chat.users import LMUser, ReplayUser, ScriptedUser, make_user
from text_gym.chat.vector import TextGenChatVectorEnv
from text_gym.envs.char_level import PromptLettersReward, char_prompts, char_tokenizer
from text_gym.envs.checks import check_action
from text_gym.envs.episode import TextGenTask
from text_gym.envs.masking import VocabularyMask
from text_gym.envs.settings import TextGenSettings
from text_gym.envs.text_gen import TextGenEnv
from text_gym.envs.vector import TextGenVectorEnv
from text_gym.prompts.generated import GeneratedPrompts
from text_gym.prompts.lists import default_prompts, load_prompts
from text_gym.prompts.rows import PromptRows, load_prompt_source
from text_gym.tasks.demonstrations import DEMONSTRATION_ENV_IDS, task_demonstrations
from text_gym.tasks.reasoning import ReasoningGymReward, reasoning_prompts
from text_gym.tasks.rewards import TASK_REWARD_SPECS
from text_gym.tasks.suite import TASKS, TaskSpec, gold_reward_spec, task_metrics, task_prompts
from text_gym.tasks.support import SCENARIOS, SupportTurnReward, support_rows, support_success

# env id -> (entry point, vector entry point, spec kwargs); no episode limit: the envs end their own episodes
_ENVS = {
    "TextGen-v0": ("text_gym.envs.text_gen:TextGenEnv", "text_gym.envs.vector:TextGenVectorEnv", {}),
    "TextGenChar-v0": ("text_gym.envs.char_level:make_char_env", "text_gym.envs.char_level:make_char_vector_env", {}),
    "TextGenChat-v0": ("text_gym.tasks.suite:make_chat_env", "text_gym.tasks.suite:make_chat_vector_env", {}),
    "TextGenSupport-v0": (
        "text_gym.tasks.support:make_support_env",
        "text_gym.tasks.support:make_support_vector_env",
        {},
    ),
    **{
        task_id: ("text_gym.tasks.suite:make_task_env", "text_gym.tasks.suite:make_task_vector_env", {"task": task_id})
        for task_id in TASKS
    },
}
for _env_id, (_entry_point, _vector_entry_point, _kwargs) in _ENVS.items():
    if _env_id not in registry:
        register(
            id=_env_id,
            entry_point=_entry_point,
            vector_entry_point=_vector_entry_point,
            max_episode_steps=None,
            kwargs=_kwargs,
        )
register_reward_models(TASK_REWARD_SPECS)

# Module paths of the flat layout (before the envs/, chat/, tasks/ ... folders): importable, with a DeprecationWarning.
alias_moved_modules(
    {
        "text_gym.env": "text_gym.envs.text_gen",
        "text_gym.vector": "text_gym.envs.vector",
        "text_gym.char_level": "text_gym.envs.char_level",
        "text_gym.episode": "text_gym.envs.episode",
        "text_gym.masking": "text_gym.envs.masking",
        "text_gym.rendering": "text_gym.envs.rendering",
        "text_gym.chat_vector": "text_gym.chat.vector",
        "text_gym.chat_template": "text_gym.chat.template",
        "text_gym.users": "text_gym.chat.users",
        "text_gym.instruct": "text_gym.tasks.instruct",
        "text_gym.arithmetic": "text_gym.tasks.arithmetic",
        "text_gym.support": "text_gym.tasks.support",
        "text_gym.prompt_rows": "text_gym.prompts.rows",
        "text_gym.generated_prompts": "text_gym.prompts.generated",
    }
)

__all__ = [
    "DEMONSTRATION_ENV_IDS",
    "SCENARIOS",
    "TASKS",
    "TASK_REWARD_SPECS",
    "ChatTemplate",
    "GeneratedPrompts",
    "LMUser",
    "PromptLettersReward",
    "PromptRows",
    "ReasoningGymReward",
    "ReplayUser",
    "ScriptedUser",
    "SupportTurnReward",
    "TaskSpec",
    "TextGenChatEnv",
    "TextGenChatSettings",
    "TextGenChatVectorEnv",
    "TextGenEnv",
    "TextGenSettings",
    "TextGenTask",
    "TextGenVectorEnv",
    "VocabularyMask",
    "char_prompts",
    "char_tokenizer",
    "check_action",
    "default_prompts",
    "gold_reward_spec",
    "load_prompt_source",
    "load_prompts",
    "make_user",
    "reasoning_prompts",
    "support_rows",
    "support_success",
    "task_demonstrations",
    "task_metrics",
    "task_prompts",
]
