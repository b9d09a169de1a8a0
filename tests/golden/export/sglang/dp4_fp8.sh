# sglang 0.5.23
python -m sglang.launch_server --model-path Qwen/Qwen2.5-7B-Instruct --tp 2 --dp 4 --quantization fp8 --kv-cache-dtype fp8_e4m3
# request: POST /generate {"text": "<PROMPT>", "sampling_params": {"n": 8, "temperature": 0.7, "top_p": 0.95, "max_new_tokens": 2048}}
# note: Majority voting is client-side: send one request with n=8, extract the final answer of each returned choice and return the most frequent one (ties: any).
# note: Deadline 30 s: stream the response and stop at the deadline; choices not finished by then do not vote (that is what the plan's predicted accuracy assumes).
# note: Layout: 4 replicas of TP 2. The plan splits each request's 8 branches over them (2/2/2/2): send 4 requests concurrently, each with n = its share, one per replica (SGLang's data-parallel controller spreads them; `planner run --endpoint` does this over one endpoint per replica), and vote over all answers.
