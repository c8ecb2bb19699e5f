#include "services/feedback/phrase_guide.h"

#include <utf8proc.h>

#include <algorithm>
#include <deque>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "common/yaml_proto.h"

namespace perfflow::feedback {
namespace {

bool IsCjk(utf8proc_int32_t cp) { return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF); }

bool IsSeparator(utf8proc_int32_t cp) {
  const utf8proc_category_t cat = utf8proc_category(cp);
  switch (cat) {
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
    case UTF8PROC_CATEGORY_CC:
      return true;
    default:
      return false;
  }
}

bool IsAsciiWordByte(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)); }

}  // namespace

bool WrittenInChinese(absl::string_view text) {
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  const auto size = static_cast<utf8proc_ssize_t>(text.size());
  for (utf8proc_ssize_t pos = 0; pos < size;) {
    utf8proc_int32_t cp;
    const utf8proc_ssize_t n = utf8proc_iterate(bytes + pos, size - pos, &cp);
    if (n <= 0) return false;
    if (IsCjk(cp)) return true;
    pos += n;
  }
  return false;
}

std::string Localized(const event::v1::LocalizedText& t, bool zh) {
  if (zh) return t.zh().empty() ? t.en() : t.zh();
  return t.en().empty() ? t.zh() : t.en();
}

absl::StatusOr<NormalizedText> Normalize(absl::string_view text) {
  NormalizedText out;
  out.text.reserve(text.size());
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  utf8proc_ssize_t pos = 0;
  const auto size = static_cast<utf8proc_ssize_t>(text.size());
  bool last_space = true;  // no leading space
  while (pos < size) {
    utf8proc_int32_t cp;
    const utf8proc_ssize_t n = utf8proc_iterate(bytes + pos, size - pos, &cp);
    if (n < 0) return absl::InvalidArgumentError(absl::StrCat("text: invalid UTF-8 at byte ", pos));
    const int begin = static_cast<int>(pos), end = static_cast<int>(pos + n);
    pos += n;
    auto emit = [&](utf8proc_int32_t c) {
      utf8proc_uint8_t buf[4];
      const utf8proc_ssize_t len = utf8proc_encode_char(c, buf);
      for (utf8proc_ssize_t i = 0; i < len; ++i) {
        out.text.push_back(static_cast<char>(buf[i]));
        out.source_begin.push_back(begin);
        out.source_end.push_back(end);
      }
    };
    if (IsSeparator(cp)) {
      if (!last_space) emit(' ');
      last_space = true;
      continue;
    }
    // Compatibility folding first (full width -> ASCII), then case folding
    // of each result (Ｇ -> G -> g).
    utf8proc_int32_t compat[16];
    int boundclass = UTF8PROC_BOUNDCLASS_START;
    const utf8proc_ssize_t m = utf8proc_decompose_char(
        cp, compat, 16, static_cast<utf8proc_option_t>(UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT | UTF8PROC_IGNORE),
        &boundclass);
    if (m < 0) return absl::InvalidArgumentError("text: cannot normalise");
    for (utf8proc_ssize_t i = 0; i < m && i < 16; ++i) {
      utf8proc_int32_t folded[16];
      int fold_boundclass = UTF8PROC_BOUNDCLASS_START;
      const utf8proc_ssize_t f = utf8proc_decompose_char(
          compat[i], folded, 16,
          static_cast<utf8proc_option_t>(UTF8PROC_DECOMPOSE | UTF8PROC_CASEFOLD | UTF8PROC_COMPAT), &fold_boundclass);
      if (f < 0) return absl::InvalidArgumentError("text: cannot normalise");
      for (utf8proc_ssize_t j = 0; j < f && j < 16; ++j) {
        if (IsSeparator(folded[j])) {
          if (!last_space) emit(' ');
          last_space = true;
        } else {
          emit(folded[j]);
          last_space = false;
        }
      }
    }
  }
  while (!out.text.empty() && out.text.back() == ' ') {
    out.text.pop_back();
    out.source_begin.pop_back();
    out.source_end.pop_back();
  }
  return out;
}

absl::StatusOr<v1::Lexicon> PhraseGuide::ParseLexicon(const std::string& yaml) {
  auto docs = LoadYamlDocuments(yaml);
  if (!docs.ok()) return docs.status();
  if (docs->size() != 1) return absl::InvalidArgumentError("lexicon: expected exactly one YAML document");
  v1::Lexicon lexicon;
  if (absl::Status s = YamlToMessage(docs->front(), &lexicon); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("lexicon: ", s.message()));
  }
  return lexicon;
}

void PhraseGuide::AddPattern(const std::string& normalized, Pattern pattern) {
  const int id = static_cast<int>(patterns_.size());
  pattern.length = static_cast<int>(normalized.size());
  pattern.word_bounded = IsAsciiWordByte(normalized.front()) || IsAsciiWordByte(normalized.back());
  patterns_.push_back(pattern);
  int state = 0;
  for (unsigned char c : normalized) {
    int& next = goto_[state * 256 + c];
    if (next <= 0) {
      next = states_++;
      goto_.resize(static_cast<size_t>(states_) * 256, -1);
      outputs_.resize(states_);
    }
    state = goto_[state * 256 + c];
  }
  outputs_[state].push_back(id);
}

void PhraseGuide::Finish() {
  // Breadth-first: failure links, then complete the DFA and merge outputs.
  std::vector<int> fail(states_, 0);
  std::deque<int> queue;
  for (int c = 0; c < 256; ++c) {
    int& next = goto_[c];
    if (next <= 0) {
      next = 0;
    } else {
      fail[next] = 0;
      queue.push_back(next);
    }
  }
  while (!queue.empty()) {
    const int state = queue.front();
    queue.pop_front();
    for (int c = 0; c < 256; ++c) {
      int& next = goto_[state * 256 + c];
      if (next > 0) {
        fail[next] = goto_[fail[state] * 256 + c];
        const auto& inherited = outputs_[fail[next]];
        outputs_[next].insert(outputs_[next].end(), inherited.begin(), inherited.end());
        queue.push_back(next);
      } else {
        next = goto_[fail[state] * 256 + c];
      }
    }
  }
}

absl::StatusOr<PhraseGuide> PhraseGuide::Build(const v1::Lexicon& lexicon) {
  PhraseGuide g;
  g.lexicon_ = lexicon;
  g.goto_.assign(256, -1);
  g.outputs_.resize(1);
  auto add = [&](const std::string& raw, Pattern p, const std::string& where) -> absl::Status {
    auto n = Normalize(raw);
    if (!n.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ": ", n.status().message()));
    if (n->text.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ": empty after normalisation"));
    g.AddPattern(n->text, p);
    return absl::OkStatus();
  };
  for (int i = 0; i < lexicon.phrases_size(); ++i) {
    const auto& phrase = lexicon.phrases(i);
    const std::string where = absl::StrCat("phrases[", i, "]");
    if (phrase.class_() == v1::VAGUE_CLASS_UNSPECIFIED) {
      return absl::InvalidArgumentError(where + ".class: required");
    }
    if (absl::Status s = add(phrase.text(), {PatternKind::kVague, phrase.class_(), 0, false}, where + ".text");
        !s.ok()) {
      return s;
    }
  }
  for (int i = 0; i < lexicon.behaviour_markers_size(); ++i) {
    absl::Status s = add(lexicon.behaviour_markers(i), {PatternKind::kBehaviour, v1::VAGUE_CLASS_UNSPECIFIED, 0, false},
                         absl::StrCat("behaviour_markers[", i, "]"));
    if (!s.ok()) return s;
  }
  for (int i = 0; i < lexicon.evidence_markers_size(); ++i) {
    absl::Status s = add(lexicon.evidence_markers(i), {PatternKind::kEvidence, v1::VAGUE_CLASS_UNSPECIFIED, 0, false},
                         absl::StrCat("evidence_markers[", i, "]"));
    if (!s.ok()) return s;
  }
  for (const auto* t : {&lexicon.sentence(), &lexicon.evidence_clause(), &lexicon.impact_clause()}) {
    if (t->zh().empty() || t->en().empty()) {
      return absl::InvalidArgumentError("sentence, evidence_clause and impact_clause need zh and en templates");
    }
  }
  g.Finish();
  return g;
}

std::vector<PhraseGuide::Match> PhraseGuide::Scan(const std::string& text) const {
  std::vector<Match> out;
  int state = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    state = goto_[state * 256 + static_cast<unsigned char>(text[i])];
    for (int id : outputs_[state]) {
      const Pattern& p = patterns_[id];
      const int end = static_cast<int>(i) + 1;
      const int begin = end - p.length;
      if (p.word_bounded) {
        // English phrases match whole words only ("excellent" not in "excellently").
        if (begin > 0 && IsAsciiWordByte(text[begin - 1])) continue;
        if (end < static_cast<int>(text.size()) && IsAsciiWordByte(text[end])) continue;
      }
      out.push_back({id, begin, end});
    }
  }
  return out;
}

absl::StatusOr<v1::AnalyzeFeedbackResponse> PhraseGuide::Analyze(const AnalysisInput& in) const {
  auto norm = Normalize(in.text);
  if (!norm.ok()) return norm.status();
  v1::AnalyzeFeedbackResponse resp;

  const bool zh = WrittenInChinese(in.text);
  resp.set_language(zh ? "zh" : "en");

  std::vector<Match> matches = Scan(norm->text);
  bool behaviour_marker = false, evidence_marker = false;
  std::vector<Match> vague;
  for (const Match& m : matches) {
    switch (patterns_[m.pattern].kind) {
      case PatternKind::kBehaviour:
        behaviour_marker = true;
        break;
      case PatternKind::kEvidence:
        evidence_marker = true;
        break;
      case PatternKind::kVague:
        vague.push_back(m);
        break;
    }
  }
  // Longest match wins where vague phrases overlap ("很好" inside "表现很好").
  std::sort(vague.begin(), vague.end(),
            [](const Match& a, const Match& b) { return a.begin != b.begin ? a.begin < b.begin : a.end > b.end; });
  int covered_until = -1;
  for (const Match& m : vague) {
    if (m.begin < covered_until) continue;
    covered_until = m.end;
    auto* span = resp.add_spans();
    span->set_start(norm->source_begin[m.begin]);
    span->set_end(norm->source_end[m.end - 1]);
    span->set_class_(patterns_[m.pattern].vague_class);
    span->set_text(in.text.substr(span->start(), span->end() - span->start()));
  }
  const int vague_spans = resp.spans_size();
  const bool has_behaviour = behaviour_marker || !in.chosen.empty();
  const bool has_evidence = evidence_marker || !in.cited_evidence.empty();
  auto whole = [&](v1::VagueClass c) {
    auto* span = resp.add_spans();
    span->set_start(0);
    span->set_end(static_cast<int>(in.text.size()));
    span->set_class_(c);
    span->set_text(in.text);
  };
  if (!has_behaviour) whole(v1::VAGUE_CLASS_NO_BEHAVIOUR);
  if (!has_evidence) whole(v1::VAGUE_CLASS_NO_EVIDENCE);

  // Specificity: a concrete behaviour counts most, then evidence, then detail
  // (distinct characters, saturating at 40); each vague phrase costs 0.15.
  std::set<char32_t> distinct;
  for (unsigned char c : norm->text) {
    if (c != ' ') distinct.insert(c);
  }
  const double detail = std::min(1.0, static_cast<double>(distinct.size()) / 40.0);
  double score = 0.45 * has_behaviour + 0.35 * has_evidence + 0.2 * detail - 0.15 * vague_spans;
  resp.set_specificity(std::clamp(score, 0.0, 1.0));
  resp.set_effective(has_behaviour && has_evidence);

  std::set<std::string> chosen_ids;
  for (const auto& b : in.chosen) chosen_ids.insert(b.id());
  for (const auto& b : in.library) {
    if (resp.suggestions_size() >= 3) break;
    if (!chosen_ids.count(b.id())) *resp.add_suggestions() = b;
  }

  const event::v1::Behaviour* behaviour = !in.chosen.empty()            ? &in.chosen.front()
                                          : resp.suggestions_size() > 0 ? &resp.suggestions(0)
                                                                        : nullptr;
  const std::string event_name = Localized(in.event_name, zh);
  if (behaviour != nullptr && !event_name.empty()) {
    std::string act = Localized(behaviour->text(), zh);
    if (!zh && !act.empty()) act[0] = absl::ascii_tolower(static_cast<unsigned char>(act[0]));
    const auto& clause = [&](const v1::LocalizedTemplate& t) { return zh ? t.zh() : t.en(); };
    std::string evidence;
    if (!in.cited_evidence.empty()) {
      evidence = absl::StrReplaceAll(clause(lexicon_.evidence_clause()),
                                     {{"{evidence}", absl::StrJoin(in.cited_evidence, zh ? "、" : ", ")}});
    }
    std::string goal = Localized(in.goal_name, zh);
    if (goal.empty()) goal = zh ? "团队目标" : "the team's goals";
    const std::string impact = absl::StrReplaceAll(clause(lexicon_.impact_clause()), {{"{goal}", goal}});
    resp.set_composed_sentence(absl::StrReplaceAll(
        clause(lexicon_.sentence()),
        {{"{event}", event_name}, {"{behaviour}", act}, {"{evidence}", evidence}, {"{impact}", impact}}));
  }
  return resp;
}

}  // namespace perfflow::feedback
