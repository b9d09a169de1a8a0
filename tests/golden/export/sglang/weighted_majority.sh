# sglang 0.5.23
python -m sglang.launch_server --model-path Qwen/Qwen2.5-3B-Instruct --tp 1
# request: POST /generate {"text": "<PROMPT>", "sampling_params": {"n": 4, "temperature": 0.7, "top_p": 0.9, "max_new_tokens": 512}}
# note: weighted_majority needs an external reward model: request n=4 choices, score each with your reward model, sum the scores per distinct final answer and return the answer with the largest total.
# note: Deadline 5 s: stream the response and stop at the deadline; choices not finished by then do not vote (that is what the plan's predicted accuracy assumes).
