"""Group quizzes: question generation (:mod:`.questions`), state database (:mod:`.state`) and the
platform-neutral round engine (:mod:`.engine`). Nothing here imports ``telegram`` or ``discord``."""
