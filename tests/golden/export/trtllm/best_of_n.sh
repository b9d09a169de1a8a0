# trtllm 1.3
cat > trtllm-config.yaml <<'EOF'
speculative_config:
  decoding_type: NGram
  max_draft_len: 2
  max_matching_ngram_size: 4
  is_public_pool: false
disable_overlap_scheduler: true
EOF
trtllm-serve Qwen/Qwen2.5-1.5B-Instruct --backend pytorch --tp_size 1 --max_batch_size 16 --config trtllm-config.yaml
# request: POST /v1/chat/completions {"model": "Qwen/Qwen2.5-1.5B-Instruct", "messages": [{"role": "user", "content": "<PROMPT>"}], "n": 16, "temperature": 1.0, "top_p": 1.0, "max_tokens": 1024}
# note: best_of_n needs an external reward model that the engine does not run: request n=16 choices, score each (question, choice) with your reward model and return the highest-scoring choice. Do not use the engine's own best_of (it ranks by log-probability, not by reward).
# note: --max_batch_size 16: one plan request runs 16 sequences at once; raise it if several plan requests share the server.
