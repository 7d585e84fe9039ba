// The Jinja interpreter: walks a parsed Template with a context dict and produces the text.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/chat_template.h"
#include "tokenizer/jinja_ast.h"

namespace loratune::jinja {

std::string render_template(const Template& tpl, const Value& context, const ChatTemplateLimits& limits,
                            std::vector<std::pair<size_t, size_t>>* generation_spans);

}  // namespace loratune::jinja
