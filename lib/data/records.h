// Per-format record parsing for `loratune prepare`: one JSONL line -> a validated Record (text,
// prompt_completion, alpaca, chat or tokens), with the record shape detected from its keys or forced,
// and a message naming the field for every invalid record. Torch-free.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "data/sample.h"

namespace loratune::data {

// Parses one JSONL line (without its line terminator) into out. format: the file's format (forced, or
// locked by an earlier line), or nullopt to detect it from the record's keys; format_line: the line that
// locked it (0 when forced), for messages. vocab_size > 0: pre-tokenized ids must be below it.
// Returns "" when the record is valid (out holds its fields and out.format), else the problem, e.g.
// "messages[1].role: unknown role ...". out.source and out.line are left to the caller.
std::string parse_jsonl_record(std::string_view line, std::optional<Format> format, int64_t format_line,
                               int64_t vocab_size, Record& out);

// One chat message, {"role": system|user|assistant, "content": string, ...}: its other keys are kept in
// out.extra. Returns "" when valid, else the problem prefixed by `where` ("messages[2].role: unknown role").
// An assistant message's content must not be blank.
std::string parse_chat_message(const nlohmann::json& m, const std::string& where, Message& out);

}  // namespace loratune::data
