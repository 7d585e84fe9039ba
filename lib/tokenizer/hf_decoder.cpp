#include "tokenizer/hf_decoder.h"

#include "tokenizer/hf_normalizer.h"
#include "tokenizer/hf_pretokenizer.h"
#include "tokenizer/hf_unicode.h"

namespace loratune::hf {

namespace {

uint32_t one_char(const JsonAt& j) {
  const std::string s = j.str();
  size_t i = 0;
  const uint32_t cp = s.empty() ? 0 : next_char(s, i);
  if (s.empty() || i != s.size()) j.fail("expected one character, got \"" + s + "\"");
  return cp;
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "<0xNN>" as tokenizers' ByteFallback reads it (u8::from_str_radix of the two characters after "0x").
int byte_token(const std::string& t) {
  if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
  if (t[3] == '+') return hex(t[4]);
  const int hi = hex(t[3]), lo = hex(t[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

}  // namespace

Decoder Decoder::parse(const JsonAt& j) {
  Decoder d;
  if (!j.is_null()) {
    d.add(j);
    d.present_ = true;
  }
  return d;
}

void Decoder::add(const JsonAt& j) {
  const std::string type = j.type();
  Step st;
  st.kind = Kind::Fuse;
  if (type == "Sequence") {
    const JsonAt list = j["decoders"];
    for (size_t i = 0; i < list.size(); ++i) add(list.at(i));
    return;
  } else if (type == "ByteLevel") {
    st.kind = Kind::ByteLevel;
  } else if (type == "Metaspace") {
    st.kind = Kind::Metaspace;
    st.ch = one_char(j["replacement"]);
    const std::string scheme = j.get_str("prepend_scheme", "always");
    if (scheme != "always" && scheme != "first" && scheme != "never")
      j["prepend_scheme"].unsupported("prepend_scheme '" + scheme + "'");
    bool never = scheme == "never";
    if (j.has("add_prefix_space") && !j["add_prefix_space"].boolean()) {
      if (!never) j.fail("add_prefix_space does not match declared prepend_scheme");  // as tokenizers
      never = true;
    }
    st.drop_first = !never;
  } else if (type == "ByteFallback") {
    st.kind = Kind::ByteFallback;
  } else if (type == "Fuse") {
    st.kind = Kind::Fuse;
  } else if (type == "Strip") {
    st.kind = Kind::Strip;
    st.ch = one_char(j["content"]);
    st.start = static_cast<size_t>(j["start"].integer());
    st.stop = static_cast<size_t>(j["stop"].integer());
  } else if (type == "Replace") {
    st.kind = Kind::Replace;
    st.pattern = parse_pattern(j["pattern"]);
    st.content = j["content"].str();
  } else {
    JsonAt(j["type"].raw(), j.file(), j.child_path("type")).unsupported("decoder '" + type + "'");
  }
  steps_.push_back(std::move(st));
}

void Decoder::run(const Step& st, std::vector<std::string>& toks) const {
  switch (st.kind) {
    case Kind::ByteLevel: {
      std::string bytes;
      for (const std::string& t : toks) {
        const size_t mark = bytes.size();
        size_t i = 0;
        bool ok = true;
        while (i < t.size()) {
          const int b = char_to_byte(next_char(t, i));
          if (b < 0) {
            ok = false;
            break;
          }
          bytes += static_cast<char>(b);
        }
        if (!ok) {  // a token with a character outside the byte alphabet goes in as its own bytes
          bytes.resize(mark);
          bytes += t;
        }
      }
      toks.assign(1, utf8_lossy(bytes));
      break;
    }
    case Kind::Metaspace:
      for (size_t k = 0; k < toks.size(); ++k) {
        std::string out;
        size_t i = 0;
        const std::string& t = toks[k];
        while (i < t.size()) {
          const size_t a = i;
          const uint32_t cp = next_char(t, i);
          if (cp == st.ch) {
            if (!(k == 0 && st.drop_first)) out += ' ';
          } else {
            out.append(t, a, i - a);
          }
        }
        toks[k] = std::move(out);
      }
      break;
    case Kind::ByteFallback: {
      std::vector<std::string> out;
      std::string pending;
      const auto flush = [&] {
        if (pending.empty()) return;
        if (is_valid_utf8(pending))
          out.push_back(pending);
        else
          for (size_t k = 0; k < pending.size(); ++k) out.emplace_back("\xEF\xBF\xBD");
        pending.clear();
      };
      for (std::string& t : toks) {
        const int b = byte_token(t);
        if (b >= 0) {
          pending += static_cast<char>(b);
        } else {
          flush();
          out.push_back(std::move(t));
        }
      }
      flush();
      toks = std::move(out);
      break;
    }
    case Kind::Fuse: {
      std::string all;
      for (const std::string& t : toks) all += t;
      toks.assign(1, std::move(all));
      break;
    }
    case Kind::Strip:
      for (std::string& t : toks) {
        std::vector<std::pair<size_t, uint32_t>> chars;  // (byte offset, code point)
        size_t i = 0;
        while (i < t.size()) {
          const size_t a = i;
          chars.emplace_back(a, next_char(t, i));
        }
        size_t start_cut = 0;
        for (size_t k = 0; k < st.start && k < chars.size(); ++k) {
          if (chars[k].second != st.ch) break;
          start_cut = k + 1;
        }
        size_t stop_cut = chars.size();
        for (size_t k = 0; k < st.stop && k < chars.size(); ++k) {
          const size_t idx = chars.size() - k - 1;
          if (chars[idx].second != st.ch) break;
          stop_cut = idx;
        }
        if (stop_cut <= start_cut) {
          t.clear();
          continue;
        }
        const size_t a = start_cut < chars.size() ? chars[start_cut].first : t.size();
        const size_t b = stop_cut < chars.size() ? chars[stop_cut].first : t.size();
        t = t.substr(a, b - a);
      }
      break;
    case Kind::Replace:
      for (std::string& t : toks) t = replace_all(t, st.pattern, st.content);
      break;
  }
}

std::string Decoder::piece_bytes(const std::string& token) const {
  std::string t = token;
  for (const Step& st : steps_) {
    switch (st.kind) {
      case Kind::ByteLevel: {
        std::string bytes;
        size_t i = 0;
        bool ok = true;
        while (ok && i < t.size()) {
          const int b = char_to_byte(next_char(t, i));
          ok = b >= 0;
          bytes += static_cast<char>(b);
        }
        if (ok) t = std::move(bytes);
        break;
      }
      case Kind::Metaspace: {
        std::string out;
        size_t i = 0;
        while (i < t.size()) {
          const size_t a = i;
          if (next_char(t, i) == st.ch)
            out += ' ';
          else
            out.append(t, a, i - a);
        }
        t = std::move(out);
        break;
      }
      case Kind::ByteFallback: {
        const int b = byte_token(t);
        if (b >= 0) t.assign(1, static_cast<char>(b));
        break;
      }
      case Kind::Replace:
        t = replace_all(t, st.pattern, st.content);
        break;
      case Kind::Fuse:
      case Kind::Strip:
        break;
    }
  }
  return t;
}

std::string Decoder::decode(std::vector<std::string> tokens) const {
  if (!present_) {
    std::string out;
    for (size_t k = 0; k < tokens.size(); ++k) {
      if (k) out += ' ';
      out += tokens[k];
    }
    return out;
  }
  for (const Step& st : steps_) run(st, tokens);
  std::string out;
  for (const std::string& t : tokens) out += t;
  return out;
}

}  // namespace loratune::hf
