#include "data/prepare.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <iomanip>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <future>
#include <optional>
#include <thread>
#include <unistd.h>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/sha256.h"
#include "core/signals.h"
#include "core/strings.h"
#include "data/prepared.h"
#include "data/shaping.h"
#include "data/sources.h"
#include "data/model_template.h"
#include "data/templates.h"
#include "tokenizer/tokenizer.h"

namespace loratune::data {
namespace {
using json = nlohmann::json;

constexpr size_t kBatch = 2048;         // records tokenized together (bounded memory)
constexpr size_t kMaxListedInvalid = 1000;

struct Counters {
  int64_t records = 0, duplicates = 0, truncated = 0, dropped = 0, chunked = 0, short_tails = 0, samples = 0;
  int64_t tokens = 0, trained = 0;
  std::map<int64_t, int64_t> lengths;  // histogram: tokens per sample before shaping -> count (bounded memory)
};

struct SplitOutput {
  std::unique_ptr<SplitWriter> writer;
  std::unique_ptr<Packer> packer;
  int64_t samples = 0;
};

Tokenizer load_tokenizer(const PrepareRequest& req) {
  if (!req.model_dir.empty() && !req.tokenizer_file.empty())
    fail_input("give either {opt:model} or {opt:tokenizer}, not both");
  if (!req.model_dir.empty()) return Tokenizer::from_model_dir(req.model_dir);
  if (!req.tokenizer_file.empty()) return Tokenizer::from_file(req.tokenizer_file);
  fail_input("prepare needs the tokenizer of the model you will train",
             "pass {opt:model} MODEL_DIR (preferred: also gives BOS/EOS rules and the chat template) or {opt:tokenizer} FILE");
}

SourceOptions source_options(const DataOptions& d, const Tokenizer& tok) {
  SourceOptions o;
  o.forced_format = d.format;
  o.text_split = d.text_split;
  o.delimiter = d.delimiter;
  o.skip_invalid = d.on_error == OnError::Skip;
  o.vocab_size = tok.vocab_size();
  if (d.text_split == TextSplit::Delimiter && d.delimiter.empty())
    fail_input("data.text_split is 'delimiter' but no delimiter is set", "pass {opt:delimiter} LINE");
  return o;
}

// Packing by default only when the material includes raw text (.txt/.md or {"text"} records).
bool decide_pack(const DataOptions& d, const std::vector<std::string>& files, const SourceOptions& so) {
  if (d.pack == Pack::On) return true;
  if (d.pack == Pack::Off) return false;
  if (so.forced_format) return *so.forced_format == Format::Text;
  for (const auto& f : files) {
    if (ends_with(f, ".txt") || ends_with(f, ".md")) return true;
    SourceOptions probe = so;
    probe.skip_invalid = true;
    RecordReader r({f}, probe);
    Record rec;
    if (r.next(rec) && rec.format == Format::Text) return true;
  }
  return false;
}

// The samples of one record: one, or (the model's template, per-turn masking) one per assistant message.
std::vector<TokenizedSample> to_samples(const Record& r, const std::string& tmpl, const ModelTemplate* model,
                                        const DataOptions& d, const Tokenizer& tok) {
  if (r.format == Format::Tokens) {
    TokenizedSample s;
    s.ids = r.input_ids;
    s.trained = r.trained;
    s.source = r.source;
    s.line = r.line;
    return {std::move(s)};
  }
  if (model) return model->samples(r, d.train_on_inputs);
  return {tokenize(render(tmpl, r, d.train_on_inputs, tok.special().add_bos), tok, r, tmpl)};
}

// A record's samples and its content keys (dedup, split), computed on the worker threads.
struct RecordWork {
  std::vector<TokenizedSample> samples;
  ContentKeys keys;
};

// Tokenizes and hashes a batch on `threads` threads; results keep the input order (deterministic output).
std::vector<RecordWork> tokenize_batch(const std::vector<Record>& batch, const std::string& tmpl,
                                       const ModelTemplate* model, const DataOptions& d, const Tokenizer& tok,
                                       int threads) {
  std::vector<RecordWork> out(batch.size());
  std::vector<std::exception_ptr> errors(threads);
  auto work = [&](int t) {
    try {
      for (size_t i = t; i < batch.size(); i += threads) {
        out[i].samples = to_samples(batch[i], tmpl, model, d, tok);
        out[i].keys = content_keys(record_content(batch[i]));
      }
    } catch (...) {
      errors[t] = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work, t);
  work(0);
  for (auto& th : pool) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  return out;
}

int64_t count_trained(const TokenizedSample& s) {
  return std::count(s.trained.begin(), s.trained.end(), uint8_t{1});
}

// Exact quantiles from the histogram: the value at rank round(q * (n - 1)) of the sorted lengths.
json length_summary(const std::map<int64_t, int64_t>& hist) {
  int64_t n = 0;
  for (const auto& [len, count] : hist) n += count;
  if (n == 0) return {{"min", 0}, {"median", 0}, {"p95", 0}, {"max", 0}};
  auto at = [&](double q) {
    const int64_t rank = static_cast<int64_t>(q * static_cast<double>(n - 1) + 0.5);
    int64_t seen = 0;
    for (const auto& [len, count] : hist) {
      seen += count;
      if (seen > rank) return len;
    }
    return hist.rbegin()->first;
  };
  return {{"min", hist.begin()->first}, {"median", at(0.5)}, {"p95", at(0.95)}, {"max", hist.rbegin()->first}};
}

std::string fmt_pct(double x) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(1) << x << "%";
  return o.str();
}

std::string render_table(const json& r) {
  std::ostringstream o;
  o << "sources:\n";
  for (const auto& s : r["sources"])
    o << "  " << std::left << std::setw(48) << s["path"].get<std::string>() << " " << std::setw(18)
      << s["format"].get<std::string>() << " records " << s["records"] << (s["invalid"] > 0 ? "  invalid " + s["invalid"].dump() : "")
      << "\n";
  const auto& len = r["sample_tokens"];
  o << "records " << r["records"] << ", samples " << r["samples"] << ", duplicates dropped " << r["duplicates"]
    << ", invalid " << r["invalid"] << ", truncated " << r["truncated"] << ", dropped " << r["dropped"]
    << ", long documents chunked " << r["chunked_documents"] << "\n";
  o << "tokens " << r["tokens"]["total"] << " (trained " << fmt_pct(100.0 * r["tokens"]["trained_fraction"].get<double>())
    << "), sample length min/median/p95/max " << len["min"] << "/" << len["median"] << "/" << len["p95"] << "/"
    << len["max"] << "\n";
  for (const char* split : {"train", "val"}) {
    const auto& s = r["splits"][split];
    o << split << ": " << s["samples"] << " samples -> " << s["rows"] << " rows of <= " << r["seq_len"] << " tokens ("
      << (r["packed"].get<bool>() ? "packed" : "padded") << "), padding waste "
      << fmt_pct(s["padding_waste_pct"].get<double>()) << "\n";
  }
  o << "template " << r["template"].get<std::string>() << " (" << r["template_source"].get<std::string>() << ")";
  if (r.contains("template_vars") && !r["template_vars"].empty()) o << ", variables " << r["template_vars"].dump();
  o << "\n";
  for (const auto& w : r["warnings"]) o << "warning: " << w.get<std::string>() << "\n";
  return o.str();
}

json split_json(const SplitOutput& s, int64_t seq_len) {
  const auto rows = s.writer->rows(), tokens = s.writer->tokens();
  double waste = rows > 0 ? 100.0 * (1.0 - static_cast<double>(tokens) / (static_cast<double>(rows) * seq_len)) : 0.0;
  return {{"samples", s.samples}, {"rows", rows}, {"tokens", tokens}, {"trained_tokens", s.writer->trained_tokens()},
          {"padding_waste_pct", waste}};
}

class Pipeline {
 public:
  // all_sources: every input file (train inputs, then --val inputs); a sample's source_index is its
  // position in this list (manifest.json "source_paths").
  Pipeline(const PrepareRequest& req, const Tokenizer& tok, std::string tmpl, SourceOptions so, bool pack,
           const std::string& dir, int threads, const std::vector<std::string>& all_sources)
      : req_(req), d_(req.data), tok_(tok), tmpl_(std::move(tmpl)), so_(std::move(so)), threads_(threads) {
    if (tmpl_ == kModelTemplate) model_ = std::make_unique<ModelTemplate>(tok, d_.template_vars);
    for (size_t i = 0; i < all_sources.size(); ++i)
      source_index_.emplace(all_sources[i], static_cast<uint32_t>(i));  // a repeated path keeps its first index
    const int token_bytes = token_bytes_for_vocab(tok.vocab_size());
    for (auto [name, out] : {std::pair{"train", &train_}, std::pair{"val", &val_}}) {
      out->writer = std::make_unique<SplitWriter>(join_path(dir, name), token_bytes);
      auto* w = out->writer.get();
      out->packer = std::make_unique<Packer>(d_.seq_len, pack, [w](Row&& row) { w->add(row); });
    }
  }

  // Reads `files`; forced_val sends everything to the val split (explicit --val), else the hash decides.
  // With several threads the next batch is read (a thread of its own) while this one is tokenized.
  void run(const std::vector<std::string>& files, bool forced_val) {
    RecordReader reader(files, so_);
    auto read_batch = [&reader] {
      std::vector<Record> batch;
      Record rec;
      while (batch.size() < kBatch && reader.next(rec)) {
        batch.push_back(std::move(rec));
        rec = Record();
      }
      return batch;
    };
    std::vector<Record> batch = read_batch();
    while (!batch.empty()) {
      throw_if_interrupted("prepare");
      std::future<std::vector<Record>> next;
      if (threads_ > 1) next = std::async(std::launch::async, read_batch);
      std::vector<RecordWork> work;
      try {
        work = tokenize_batch(batch, tmpl_, model_.get(), d_, tok_, threads_);
      } catch (...) {
        if (next.valid()) next.wait();  // the reader must stop before it is destroyed
        throw;
      }
      c_.records += static_cast<int64_t>(batch.size());
      for (size_t i = 0; i < batch.size(); ++i) place(batch[i], std::move(work[i]), forced_val);
      batch = next.valid() ? next.get() : read_batch();
    }
    for (const auto& s : reader.stats()) stats_.push_back(s);
    for (const auto& iv : reader.invalid()) invalid_.push_back(iv);
  }

  void finish() {
    for (auto* out : {&train_, &val_}) {
      out->packer->finish();
      out->writer->finish();
    }
  }

  json report(const std::string& tmpl_source, bool pack) const {
    json sources = json::array();
    for (const auto& s : stats_)
      sources.push_back({{"path", s.source}, {"format", format_name(s.format)}, {"records", s.records},
                         {"invalid", s.invalid}, {"bytes", s.bytes}});
    json invalid = json::array();
    for (size_t i = 0; i < invalid_.size() && i < kMaxListedInvalid; ++i)
      invalid.push_back({{"source", invalid_[i].source}, {"line", invalid_[i].line}, {"problem", invalid_[i].problem}});
    json r;
    r["sources"] = sources;
    r["records"] = c_.records;
    r["samples"] = c_.samples;
    r["duplicates"] = c_.duplicates;
    r["invalid"] = static_cast<int64_t>(invalid_.size());
    r["invalid_records"] = invalid;
    r["truncated"] = c_.truncated;
    r["dropped"] = c_.dropped;
    r["chunked_documents"] = c_.chunked;
    r["short_chunk_tails"] = c_.short_tails;
    r["tokens"] = {{"total", c_.tokens},
                   {"trained", c_.trained},
                   {"trained_fraction", c_.tokens ? static_cast<double>(c_.trained) / c_.tokens : 0.0}};
    r["sample_tokens"] = length_summary(c_.lengths);
    r["splits"] = {{"train", split_json(train_, d_.seq_len)}, {"val", split_json(val_, d_.seq_len)}};
    r["template"] = tmpl_;
    r["template_source"] = tmpl_source;
    if (model_) r["template_vars"] = template_vars_json(d_.template_vars);
    r["seq_len"] = d_.seq_len;
    r["packed"] = pack;
    r["warnings"] = warnings();
    return r;
  }

  std::vector<std::string> warnings() const {
    std::vector<std::string> w;
    if (!invalid_.empty()) w.push_back(std::to_string(invalid_.size()) + " invalid records were skipped (see invalid_records)");
    if (c_.truncated) w.push_back(std::to_string(c_.truncated) + " samples were longer than seq_len " +
                                  std::to_string(d_.seq_len) + " and were truncated (" + side_name(d_.truncation) + " side)");
    if (c_.dropped) w.push_back(std::to_string(c_.dropped) + " samples had no trained tokens left and were dropped");
    if (train_.samples == 0) w.push_back("the train split is empty");
    if (val_.samples == 0 && (d_.val_fraction > 0 || !req_.val_inputs.empty()))
      w.push_back("the validation split is empty (too little data for val_fraction " + std::to_string(d_.val_fraction) + ")");
    return w;
  }

 private:
  // A record's samples all go to the split its content hashes to.
  void place(const Record& r, RecordWork&& work, bool forced_val) {
    if (d_.dedup && !seen_.insert(work.keys.dedup).second) {
      ++c_.duplicates;
      return;
    }
    const bool val = forced_val || (req_.val_inputs.empty() && is_val_key(work.keys.split, d_.val_fraction));
    std::vector<TokenizedSample>& samples = work.samples;
    const auto src = source_index_.find(r.source);
    LT_CHECK(src != source_index_.end(), "prepare: record from an unlisted source " + r.source);
    for (TokenizedSample& s : samples) {
      s.source_index = src->second;
      place_sample(r, std::move(s), val ? val_ : train_);
    }
  }

  void place_sample(const Record& r, TokenizedSample&& s, SplitOutput& out) {
    ++c_.lengths[static_cast<int64_t>(s.ids.size())];
    std::vector<TokenizedSample> pieces;
    if (static_cast<int64_t>(s.ids.size()) > d_.seq_len) {
      if (r.format == Format::Text) {
        pieces = chunk(s, d_.seq_len, d_.stride);
        ++c_.chunked;
      } else {
        truncate(s, d_.seq_len, d_.truncation);
        ++c_.truncated;
        pieces.push_back(std::move(s));
      }
    } else {
      pieces.push_back(std::move(s));
    }
    for (auto& p : pieces) {
      const int64_t trained = count_trained(p);
      if (pieces.size() > 1 && p.ids.size() < 2) {  // a 1-token chunk tail: nothing to predict, not a loss
        ++c_.short_tails;
        continue;
      }
      if (trained == 0 || p.ids.size() < 2) {
        ++c_.dropped;
        continue;
      }
      ++c_.samples;
      ++out.samples;
      c_.tokens += static_cast<int64_t>(p.ids.size());
      c_.trained += trained;
      out.packer->add(std::move(p));
    }
  }

  const PrepareRequest& req_;
  const DataOptions& d_;
  const Tokenizer& tok_;
  std::string tmpl_;
  std::unique_ptr<ModelTemplate> model_;  // when tmpl_ is "model"
  SourceOptions so_;
  int threads_;
  SplitOutput train_, val_;
  Counters c_;
  std::unordered_set<uint64_t> seen_;
  std::unordered_map<std::string, uint32_t> source_index_;
  std::vector<SourceStats> stats_;
  std::vector<InvalidRecord> invalid_;
};

json sha256_of_files(const std::vector<std::string>& files) {
  json out = json::object();
  for (const auto& f : files) out[f] = sha256_file_hex(f);
  return out;
}
}  // namespace

TemplateChoice choose_template(const std::string& requested, const Tokenizer& tok) {
  if (requested == kModelTemplate) {
    if (tok.chat_template().empty())
      fail_input("template 'model': the model has no chat template",
                 "choose a built-in {opt:template} (" + join(template_names(), ", ") + ")");
    return {requested, "--template"};  // lt-allow-flag: where the template came from, a report value
  }
  if (!requested.empty()) {
    if (!is_template_name(requested))
      fail_input("unknown template '" + requested + "'" + did_you_mean(requested, template_names()),
                 "built-in templates: " + join(template_names(), ", ") + ", or 'model' (the model's own)");
    return {requested, "--template"};  // lt-allow-flag: where the template came from, a report value
  }
  if (!tok.chat_template().empty()) return {kModelTemplate, "the model's chat template"};
  return {"plain", "default"};
}

PrepareResult prepare_dataset(const PrepareRequest& req) {
  const DataOptions& d = req.data;
  if (req.out_dir.empty()) fail_input("prepare needs an output directory", "pass {opt:out} DIR");
  if (req.inputs.empty()) fail_input("prepare needs input files", "pass files, directories or globs");
  if (d.stride >= d.seq_len)
    fail_input("data.stride (" + std::to_string(d.stride) + ") must be smaller than data.seq_len (" +
               std::to_string(d.seq_len) + ")");
  std::optional<Tokenizer> owned;
  if (!req.tokenizer) owned.emplace(load_tokenizer(req));
  const Tokenizer& tok = req.tokenizer ? *req.tokenizer : *owned;
  auto [tmpl, tmpl_source] = choose_template(d.template_name, tok);
  SourceOptions so = source_options(d, tok);
  auto files = expand_inputs(req.inputs);
  std::vector<std::string> val_files;
  if (!req.val_inputs.empty()) val_files = expand_inputs(req.val_inputs);
  const bool pack = decide_pack(d, files, so);
  int threads = static_cast<int>(req.threads > 0 ? req.threads : sysconf(_SC_NPROCESSORS_ONLN));
  threads = std::max(1, threads);

  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::string> all_sources = files;
  all_sources.insert(all_sources.end(), val_files.begin(), val_files.end());
  AtomicDirectory out(req.out_dir, req.force);
  Pipeline p(req, tok, tmpl, so, pack, out.tmp_path(), threads, all_sources);
  p.run(files, false);
  if (!val_files.empty()) p.run(val_files, true);
  p.finish();
  json report = p.report(tmpl_source, pack);
  report["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (d.strict && !report["warnings"].empty())
    fail_input("{opt:strict}: prepare found problems, nothing was written:\n  " +
                   join(report["warnings"].get<std::vector<std::string>>(), "\n  "),
               "fix the data or the options, or drop {opt:strict}");

  Manifest m;
  m.format_version = kPreparedFormatVersion;
  m.tokenizer_fingerprint = tok.fingerprint();
  m.vocab_size = tok.vocab_size();
  m.template_name = tmpl;
  m.seq_len = d.seq_len;
  m.packed = pack;
  m.token_bytes = token_bytes_for_vocab(tok.vocab_size());
  m.train_rows = report["splits"]["train"]["rows"];
  m.val_rows = report["splits"]["val"]["rows"];
  json outputs = json::object();
  for (const char* split : {"train", "val"})
    for (const char* f : {"tokens.bin", "mask.bin", "rows.bin", "starts.bin", "sample_sources.bin"}) {
      std::string rel = std::string(split) + "/" + f;
      outputs[rel] = sha256_file_hex(join_path(out.tmp_path(), rel));
    }
  m.extra = {{"counts", {{"records", report["records"]}, {"samples", report["samples"]},
                          {"duplicates", report["duplicates"]}, {"invalid", report["invalid"]},
                          {"truncated", report["truncated"]}, {"dropped", report["dropped"]},
                          {"tokens", report["tokens"]["total"]}, {"trained_tokens", report["tokens"]["trained"]}}},
             {"sources", sha256_of_files(all_sources)},
             {"val_sources", val_files},
             {"source_paths", all_sources},
             {"outputs", outputs},
             {"tokenizer", req.model_dir.empty() ? req.tokenizer_file : req.model_dir},
             {"options", data_options_json(d)}};
  if (tmpl == kModelTemplate) m.extra["template_vars"] = template_vars_json(d.template_vars);
  write_file_atomic(out.file("manifest.json"), manifest_to_json(m));
  PrepareResult res;
  res.report_json = report.dump(2);
  write_file_atomic(out.file("report.json"), res.report_json + "\n");
  res.report_table = render_table(report);
  out.commit();
  res.out_dir = req.out_dir;
  log::debug("prepare wrote " + req.out_dir);
  return res;
}

}  // namespace loratune::data
