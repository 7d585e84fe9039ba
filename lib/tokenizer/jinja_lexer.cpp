// The Jinja lexer with jinja2's whitespace semantics (jinja2/lexer.py, trim_blocks=True, lstrip_blocks=True):
//  - "{%-", "{{-", "{#-": the text before loses all trailing whitespace (newlines included);
//  - "-%}", "-}}", "-#}": all whitespace after the tag is dropped;
//  - trim_blocks: the first newline after "%}" or "#}" is dropped ("+%}" keeps it; "}}" never trims);
//  - lstrip_blocks: spaces/tabs between a line start and "{%" or "{#" are dropped ("{%+" keeps them; "{{"
//    never strips). A "line start" is after a newline in the text or right after a tag that ended in one.
//  - Inside (), [], {} an end marker is not an end ("{{ {'a': {'b': 1}} }}").
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "tokenizer/jinja_ast.h"

namespace loratune::jinja {

std::string Source::where(size_t offset) const {
  int line = 1, col = 1;
  for (size_t k = 0; k < offset && k < text.size(); ++k) {
    const unsigned char c = text[k];
    if (c == '\n') {
      ++line;
      col = 1;
    } else if ((c >> 6) != 2) {
      ++col;
    }
  }
  return name + ":" + std::to_string(line) + ":" + std::to_string(col);
}

void Source::fail(size_t offset, const std::string& what, const std::string& hint) const {
  fail_input(where(offset) + ": " + what, hint.empty() ? "fix the chat template" : hint);
}

namespace {

bool ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Python str.rstrip() / \s for the whitespace this lexer meets (Unicode spaces included).
size_t rstrip_end(const std::string& s, size_t begin, size_t end) {
  while (end > begin) {
    size_t start = end - 1;
    while (start > begin && (static_cast<unsigned char>(s[start]) >> 6) == 2) --start;
    const std::u32string cp = utf8_decode(s.substr(start, end - start));
    if (cp.size() != 1 || !is_py_space(cp[0])) break;
    end = start;
  }
  return end;
}

size_t skip_space(const std::string& s, size_t pos) {
  while (pos < s.size()) {
    size_t len = 1;
    const unsigned char c = s[pos];
    if (c >= 0x80) len = (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : 4;
    const std::u32string cp = utf8_decode(s.substr(pos, len));
    if (cp.size() != 1 || !is_py_space(cp[0])) break;
    pos += len;
  }
  return pos;
}

bool all_space(const std::string& s, size_t begin, size_t end) {
  return begin < end && skip_space(s, begin) >= end;
}

bool starts(const std::string& s, size_t pos, const char* lit) {
  return s.compare(pos, std::strlen(lit), lit) == 0;
}

class Lexer {
 public:
  explicit Lexer(const Source& src) : src_(src), s_(src.text) {}

  std::vector<Token> run() {
    size_t pos = 0;
    bool line_starting = true;
    while (pos < s_.size()) {
      // The earliest tag opener.
      size_t tag = pos;
      while (true) {
        tag = s_.find('{', tag);
        if (tag == std::string::npos || tag + 1 >= s_.size()) {
          tag = std::string::npos;
          break;
        }
        const char c = s_[tag + 1];
        if (c == '%' || c == '{' || c == '#') break;
        ++tag;
      }
      if (tag == std::string::npos) {
        push_data(pos, s_.size(), pos);
        break;
      }
      const char kind = s_[tag + 1];
      const char sign = tag + 2 < s_.size() && (s_[tag + 2] == '-' || s_[tag + 2] == '+') ? s_[tag + 2] : 0;
      size_t text_end = tag;
      if (sign == '-') {
        text_end = rstrip_end(s_, pos, tag);
      } else if (sign != '+' && kind != '{') {
        // lstrip_blocks: drop the whitespace between the line start and the tag.
        const size_t nl = s_.rfind('\n', tag == 0 ? 0 : tag - 1);
        const size_t l_pos = nl == std::string::npos || nl < pos ? pos : nl + 1;
        if ((l_pos > pos || line_starting) && all_space(s_, l_pos, tag)) text_end = l_pos;
      }
      push_data(pos, text_end, pos);
      size_t after = tag + 2 + (sign ? 1 : 0);
      if (kind == '#') {
        pos = comment(tag, after, line_starting);
      } else if (kind == '%' && raw_begin(after, &pos)) {
        line_starting = pos > 0 && s_[pos - 1] == '\n';
        pos = raw_body(tag, pos, line_starting);
      } else {
        pos = tag_body(kind == '%', tag, after, line_starting);
      }
    }
    out_.push_back({Tok::Eof, "", s_.size()});
    return std::move(out_);
  }

 private:
  void push_data(size_t begin, size_t end, size_t offset) {
    if (end > begin) out_.push_back({Tok::Data, s_.substr(begin, end - begin), offset});
  }

  // After "{#": finds "+#}", "-#}" + whitespace, or "#}" + one newline.
  size_t comment(size_t tag, size_t pos, bool& line_starting) {
    for (size_t p = pos; p + 1 < s_.size() + 1; ++p) {
      if (starts(s_, p, "+#}")) return set_ls(p + 3, line_starting);
      if (starts(s_, p, "-#}")) return set_ls(skip_space(s_, p + 3), line_starting);
      if (starts(s_, p, "#}")) return set_ls(p + 2 + (p + 2 < s_.size() && s_[p + 2] == '\n'), line_starting);
    }
    src_.fail(tag, "missing end of comment tag: expected '#}'");
  }

  size_t set_ls(size_t end, bool& line_starting) {
    line_starting = end > 0 && s_[end - 1] == '\n';
    return end;
  }

  // "{% raw %}" (after the opener): sets *end past its "%}" (no trim_blocks, as jinja2).
  bool raw_begin(size_t pos, size_t* end) {
    size_t p = skip_space(s_, pos);
    if (!starts(s_, p, "raw")) return false;
    p = skip_space(s_, p + 3);
    if (starts(s_, p, "-%}")) {
      *end = skip_space(s_, p + 3);
      return true;
    }
    if (starts(s_, p, "%}")) {
      *end = p + 2;
      return true;
    }
    return false;
  }

  size_t raw_body(size_t tag, size_t pos, bool& line_starting) {
    for (size_t p = pos; p < s_.size(); ++p) {
      if (!starts(s_, p, "{%")) continue;
      const char sign = p + 2 < s_.size() && (s_[p + 2] == '-' || s_[p + 2] == '+') ? s_[p + 2] : 0;
      size_t q = skip_space(s_, p + 2 + (sign ? 1 : 0));
      if (!starts(s_, q, "endraw")) continue;
      q = skip_space(s_, q + 6);
      size_t end;
      if (starts(s_, q, "+%}"))
        end = q + 3;
      else if (starts(s_, q, "-%}"))
        end = skip_space(s_, q + 3);
      else if (starts(s_, q, "%}"))
        end = q + 2 + (q + 2 < s_.size() && s_[q + 2] == '\n');
      else
        continue;
      size_t text_end = p;
      if (sign == '-') {
        text_end = rstrip_end(s_, pos, p);
      } else if (sign != '+') {
        const size_t nl = s_.rfind('\n', p == 0 ? 0 : p - 1);
        const size_t l_pos = nl == std::string::npos || nl < pos ? pos : nl + 1;
        if ((l_pos > pos || line_starting) && all_space(s_, l_pos, p)) text_end = l_pos;
      }
      push_data(pos, text_end, pos);
      return set_ls(end, line_starting);
    }
    src_.fail(tag, "missing end of raw block: expected '{% endraw %}'");
  }

  // The expression tokens of a "{% ... %}" or "{{ ... }}" tag, through its end marker.
  size_t tag_body(bool block, size_t tag, size_t pos, bool& line_starting) {
    out_.push_back({block ? Tok::BlockBegin : Tok::VarBegin, "", tag});
    std::vector<char> balance;
    while (true) {
      if (pos >= s_.size())
        src_.fail(tag, std::string("unexpected end of template: expected '") + (block ? "%}" : "}}") +
                           "' to close the tag opened here");
      if (balance.empty()) {
        if (block) {
          size_t end = 0;
          if (starts(s_, pos, "+%}"))
            end = pos + 3;
          else if (starts(s_, pos, "-%}"))
            end = skip_space(s_, pos + 3);
          else if (starts(s_, pos, "%}"))
            end = pos + 2 + (pos + 2 < s_.size() && s_[pos + 2] == '\n');
          if (end) {
            out_.push_back({Tok::BlockEnd, "", pos});
            return set_ls(end, line_starting);
          }
        } else {
          size_t end = 0;
          if (starts(s_, pos, "-}}"))
            end = skip_space(s_, pos + 3);
          else if (starts(s_, pos, "}}"))
            end = pos + 2;
          if (end) {
            out_.push_back({Tok::VarEnd, "", pos});
            return set_ls(end, line_starting);
          }
        }
      }
      const char c = s_[pos];
      if (ascii_space(c)) {
        ++pos;
        continue;
      }
      if (std::isdigit(static_cast<unsigned char>(c))) {
        pos = number(pos);
        continue;
      }
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_' || static_cast<unsigned char>(c) >= 0x80) {
        size_t e = pos;
        while (e < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[e])) || s_[e] == '_' ||
                                 static_cast<unsigned char>(s_[e]) >= 0x80))
          ++e;
        out_.push_back({Tok::Name, s_.substr(pos, e - pos), pos});
        pos = e;
        continue;
      }
      if (c == '\'' || c == '"') {
        pos = string(pos);
        continue;
      }
      static const char* const kOps[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/",
                                         "*",  "%",  "~",  "[",  "]",  "(",  ")", "{", "}",
                                         ">",  "<",  "=",  ".",  ":",  "|",  ",", ";"};
      const char* op = nullptr;
      for (const char* o : kOps)
        if (starts(s_, pos, o)) {
          op = o;
          break;
        }
      if (!op) src_.fail(pos, std::string("unexpected character '") + c + "' in a tag");
      const std::string o(op);
      if (o == "(" || o == "[" || o == "{") {
        balance.push_back(o == "(" ? ')' : o == "[" ? ']' : '}');
      } else if (o == ")" || o == "]" || o == "}") {
        if (balance.empty()) src_.fail(pos, "unexpected '" + o + "'");
        if (balance.back() != o[0])
          src_.fail(pos, "unexpected '" + o + "': expected '" + std::string(1, balance.back()) + "'");
        balance.pop_back();
      }
      out_.push_back({Tok::Op, o, pos});
      pos += o.size();
    }
  }

  size_t digits(size_t p) {
    // (\d+_)*\d+
    while (p < s_.size() &&
           (std::isdigit(static_cast<unsigned char>(s_[p])) ||
            (s_[p] == '_' && p + 1 < s_.size() && std::isdigit(static_cast<unsigned char>(s_[p + 1])))))
      ++p;
    return p;
  }

  size_t number(size_t pos) {
    size_t p = digits(pos);
    bool is_float = false;
    if (p + 1 < s_.size() && s_[p] == '.' && std::isdigit(static_cast<unsigned char>(s_[p + 1]))) {
      p = digits(p + 1);
      is_float = true;
    }
    if (p < s_.size() && (s_[p] == 'e' || s_[p] == 'E')) {
      size_t q = p + 1;
      if (q < s_.size() && (s_[q] == '+' || s_[q] == '-')) ++q;
      if (q < s_.size() && std::isdigit(static_cast<unsigned char>(s_[q]))) {
        p = digits(q);
        is_float = true;
      }
    }
    std::string text;
    for (size_t k = pos; k < p; ++k)
      if (s_[k] != '_') text.push_back(s_[k]);
    Token t{is_float ? Tok::Float : Tok::Int, s_.substr(pos, p - pos), pos};
    if (is_float) {
      t.fval = std::strtod(text.c_str(), nullptr);
    } else {
      int base = 10;
      std::string digits_only = text;
      if (text.size() > 1 && text[0] == '0' &&
          (text[1] == 'x' || text[1] == 'X' || text[1] == 'b' || text[1] == 'B' || text[1] == 'o' ||
           text[1] == 'O')) {
        // 0x/0b/0o: the letters were not consumed by digits(); read them here.
        size_t q = pos + 2;
        while (q < s_.size() && (std::isxdigit(static_cast<unsigned char>(s_[q])) || s_[q] == '_')) ++q;
        base = (text[1] | 0x20) == 'x' ? 16 : (text[1] | 0x20) == 'b' ? 2 : 8;
        digits_only.clear();
        for (size_t k = pos + 2; k < q; ++k)
          if (s_[k] != '_') digits_only.push_back(s_[k]);
        p = q;
        t.text = s_.substr(pos, p - pos);
      } else if (text.size() > 1 && text[0] == '0' && text.find_first_not_of('0') != std::string::npos) {
        src_.fail(pos, "invalid integer literal '" + text + "' (leading zeros are not allowed)");
      }
      errno = 0;
      t.ival = std::strtoll(digits_only.c_str(), nullptr, base);
      if (errno == ERANGE) src_.fail(pos, "integer literal '" + t.text + "' does not fit in 64 bits");
    }
    out_.push_back(t);
    return p;
  }

  // A quoted literal, unescaped as Python's unicode-escape codec does.
  size_t string(size_t pos) {
    const char q = s_[pos];
    std::string out;
    size_t p = pos + 1;
    while (true) {
      if (p >= s_.size()) src_.fail(pos, std::string("unterminated string literal: expected ") + q);
      const char c = s_[p];
      if (c == q) break;
      if (c != '\\') {
        out.push_back(c);
        ++p;
        continue;
      }
      if (p + 1 >= s_.size()) src_.fail(pos, std::string("unterminated string literal: expected ") + q);
      const char e = s_[p + 1];
      p += 2;
      switch (e) {
        case '\n': break;
        case '\\': out.push_back('\\'); break;
        case '\'': out.push_back('\''); break;
        case '"': out.push_back('"'); break;
        case 'a': out.push_back('\a'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'v': out.push_back('\v'); break;
        case 'x':
        case 'u':
        case 'U': {
          const int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          if (p + n > s_.size())
            src_.fail(p - 2, std::string("truncated \\") + e + " escape in a string literal");
          char32_t cp = 0;
          for (int k = 0; k < n; ++k) {
            const char h = s_[p + k];
            if (!std::isxdigit(static_cast<unsigned char>(h)))
              src_.fail(p - 2, std::string("truncated \\") + e + " escape in a string literal");
            cp = cp * 16 + (std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (h | 0x20) - 'a' + 10);
          }
          if (cp > 0x10FFFF) src_.fail(p - 2, "illegal Unicode character in a string literal");
          utf8_append(out, cp);
          p += n;
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            char32_t cp = e - '0';
            for (int k = 0; k < 2 && p < s_.size() && s_[p] >= '0' && s_[p] <= '7'; ++k, ++p)
              cp = cp * 8 + (s_[p] - '0');
            utf8_append(out, cp);
          } else {
            out.push_back('\\');  // an unknown escape stays as written
            out.push_back(e);
          }
      }
    }
    out_.push_back({Tok::String, out, pos});
    return p + 1;
  }

  const Source& src_;
  const std::string& s_;
  std::vector<Token> out_;
};

}  // namespace

std::vector<Token> lex(const Source& src) { return Lexer(src).run(); }

}  // namespace loratune::jinja
