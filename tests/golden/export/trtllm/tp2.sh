# trtllm 1.3
cat > trtllm-config.yaml <<'EOF'
speculative_config:
  decoding_type: DraftTarget
  max_draft_len: 2
  speculative_model: Qwen/Qwen2.5-7B-Instruct
disable_overlap_scheduler: true
EOF
trtllm-serve Qwen/Qwen2.5-32B-Instruct --backend pytorch --tp_size 2 --max_batch_size 8 --config trtllm-config.yaml
# request: POST /v1/chat/completions {"model": "Qwen/Qwen2.5-32B-Instruct", "messages": [{"role": "user", "content": "<PROMPT>"}], "n": 8, "temperature": 0.6, "top_p": 0.95, "max_tokens": 4096}
# note: Majority voting is client-side: send one request with n=8, extract the final answer of each returned choice and return the most frequent one (ties: any).
# note: Deadline 60 s: stream the response and stop at the deadline; choices not finished by then do not vote (that is what the plan's predicted accuracy assumes).
# note: --max_batch_size 8: one plan request runs 8 sequences at once; raise it if several plan requests share the server.
# note: Draft and target must share a tokenizer, or acceptance collapses.
