# trtllm 1.3
cat > trtllm-config.yaml <<'EOF'
speculative_config:
  decoding_type: MTP
  num_nextn_predict_layers: 1
disable_overlap_scheduler: true
EOF
trtllm-serve deepseek-ai/DeepSeek-V3 --backend pytorch --tp_size 8 --max_batch_size 16 --config trtllm-config.yaml
# request: POST /v1/chat/completions {"model": "deepseek-ai/DeepSeek-V3", "messages": [{"role": "user", "content": "<PROMPT>"}], "n": 16, "temperature": 0.7, "top_p": 0.95, "max_tokens": 1024}
# note: Majority voting is client-side: send one request with n=16, extract the final answer of each returned choice and return the most frequent one (ties: any).
# note: Deadline 10 s: stream the response and stop at the deadline; choices not finished by then do not vote (that is what the plan's predicted accuracy assumes).
# note: --max_batch_size 16: one plan request runs 16 sequences at once; raise it if several plan requests share the server.
