# trtllm 1.3
cat > trtllm-config.yaml <<'EOF'
speculative_config:
  decoding_type: NGram
  max_draft_len: 3
  max_matching_ngram_size: 5
  is_public_pool: false
disable_overlap_scheduler: true
EOF
trtllm-serve Qwen/Qwen2.5-7B-Instruct --backend pytorch --tp_size 1 --max_batch_size 64 --config trtllm-config.yaml
# request: POST /v1/chat/completions {"model": "Qwen/Qwen2.5-7B-Instruct", "messages": [{"role": "user", "content": "<PROMPT>"}], "n": 64, "temperature": 0.8, "top_p": 1.0, "max_tokens": 2048}
# note: Majority voting is client-side: send one request with n=64, extract the final answer of each returned choice and return the most frequent one (ties: any).
# note: Deadline 60 s: stream the response and stop at the deadline; choices not finished by then do not vote (that is what the plan's predicted accuracy assumes).
# note: --max_batch_size 64: one plan request runs 64 sequences at once; raise it if several plan requests share the server.
