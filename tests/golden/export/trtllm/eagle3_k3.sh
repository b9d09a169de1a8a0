# trtllm 1.3
cat > trtllm-config.yaml <<'EOF'
speculative_config:
  decoding_type: Eagle3
  max_draft_len: 3
  speculative_model: yuhuili/EAGLE3-LLaMA3.1-Instruct-8B
disable_overlap_scheduler: true
EOF
trtllm-serve meta-llama/Llama-3.1-8B-Instruct --backend pytorch --tp_size 1 --max_batch_size 16 --config trtllm-config.yaml
# request: POST /v1/chat/completions {"model": "meta-llama/Llama-3.1-8B-Instruct", "messages": [{"role": "user", "content": "<PROMPT>"}], "n": 16, "temperature": 0.7, "top_p": 0.95, "max_tokens": 1024}
# note: Majority voting is client-side: send one request with n=16, extract the final answer of each returned choice and return the most frequent one (ties: any).
# note: Deadline 10 s: stream the response and stop at the deadline; choices not finished by then do not vote (that is what the plan's predicted accuracy assumes).
# note: --max_batch_size 16: one plan request runs 16 sequences at once; raise it if several plan requests share the server.
