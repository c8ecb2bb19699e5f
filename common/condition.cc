#include "common/condition.h"

#include <cctype>
#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace perfflow {

struct Condition::Node {
  enum class Kind { kOr, kAnd, kNot, kExists, kCompare, kIn, kTruthy, kPath, kLiteral };
  Kind kind;
  std::string op;    // for kCompare
  std::string path;  // for kPath, kExists
  CondValue literal;
  std::vector<std::shared_ptr<const Node>> children;
};

namespace {

using Node = Condition::Node;
using NodePtr = std::shared_ptr<const Node>;

struct Token {
  enum class Type { kIdent, kNumber, kString, kOp, kLParen, kRParen, kLBracket, kRBracket, kComma, kDot, kEnd };
  Type type;
  std::string text;
  size_t pos;  // 0-based
};

absl::Status SyntaxError(size_t pos, const std::string& reason) {
  return absl::InvalidArgumentError(absl::StrCat("position ", pos + 1, ": ", reason));
}

absl::StatusOr<std::vector<Token>> Lex(const std::string& s) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    const size_t start = i;
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '_')) ++i;
      out.push_back({Token::Type::kIdent, s.substr(start, i - start), start});
    } else if (std::isdigit(static_cast<unsigned char>(c)) ||
               (c == '-' && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])))) {
      ++i;
      while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
      out.push_back({Token::Type::kNumber, s.substr(start, i - start), start});
    } else if (c == '\'' || c == '"') {
      ++i;
      std::string text;
      while (i < s.size() && s[i] != c) {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        text += s[i++];
      }
      if (i >= s.size()) return SyntaxError(start, "unterminated string");
      ++i;
      out.push_back({Token::Type::kString, text, start});
    } else if (c == '=' || c == '!' || c == '<' || c == '>') {
      std::string op(1, c);
      if (i + 1 < s.size() && s[i + 1] == '=') op += '=';
      if (op == "=" || op == "!") return SyntaxError(start, "unknown operator '" + op + "' (use == or !=)");
      i += op.size();
      out.push_back({Token::Type::kOp, op, start});
    } else {
      Token::Type type;
      switch (c) {
        case '(':
          type = Token::Type::kLParen;
          break;
        case ')':
          type = Token::Type::kRParen;
          break;
        case '[':
          type = Token::Type::kLBracket;
          break;
        case ']':
          type = Token::Type::kRBracket;
          break;
        case ',':
          type = Token::Type::kComma;
          break;
        case '.':
          type = Token::Type::kDot;
          break;
        default:
          return SyntaxError(start, absl::StrCat("unexpected character '", std::string(1, c), "'"));
      }
      ++i;
      out.push_back({type, std::string(1, c), start});
    }
  }
  out.push_back({Token::Type::kEnd, "", s.size()});
  return out;
}

bool IsKeyword(const Token& t, const char* word) { return t.type == Token::Type::kIdent && t.text == word; }
bool IsReserved(const std::string& w) {
  return w == "and" || w == "or" || w == "not" || w == "in" || w == "exists" || w == "true" || w == "false" ||
         w == "null";
}

class Parser {
 public:
  Parser(std::vector<Token> tokens, std::vector<std::string>* paths) : t_(std::move(tokens)), paths_(paths) {}

  absl::StatusOr<NodePtr> ParseAll() {
    auto e = Or();
    if (!e.ok()) return e;
    if (Peek().type != Token::Type::kEnd) return SyntaxError(Peek().pos, "unexpected '" + Peek().text + "'");
    return e;
  }

 private:
  const Token& Peek() const { return t_[i_]; }
  const Token& Next() { return t_[i_++]; }

  absl::StatusOr<NodePtr> Binary(Node::Kind kind, const char* word, absl::StatusOr<NodePtr> (Parser::*sub)()) {
    auto first = (this->*sub)();
    if (!first.ok()) return first;
    if (!IsKeyword(Peek(), word)) return first;
    auto node = std::make_shared<Node>();
    node->kind = kind;
    node->children.push_back(*first);
    while (IsKeyword(Peek(), word)) {
      Next();
      auto rhs = (this->*sub)();
      if (!rhs.ok()) return rhs;
      node->children.push_back(*rhs);
    }
    return NodePtr(node);
  }

  absl::StatusOr<NodePtr> Or() { return Binary(Node::Kind::kOr, "or", &Parser::And); }
  absl::StatusOr<NodePtr> And() { return Binary(Node::Kind::kAnd, "and", &Parser::Unary); }

  absl::StatusOr<NodePtr> Unary() {
    const Token& tok = Peek();
    // Bounded nesting: a hostile rule cannot exhaust the stack.
    if (++depth_ > kMaxDepth) return SyntaxError(tok.pos, "nested too deeply (at most 32 levels)");
    struct Leave {
      int& d;
      ~Leave() { --d; }
    } leave{depth_};
    if (IsKeyword(tok, "not")) {
      Next();
      auto inner = Unary();
      if (!inner.ok()) return inner;
      auto node = std::make_shared<Node>();
      node->kind = Node::Kind::kNot;
      node->children.push_back(*inner);
      return NodePtr(node);
    }
    if (tok.type == Token::Type::kLParen) {
      Next();
      auto inner = Or();
      if (!inner.ok()) return inner;
      if (Peek().type != Token::Type::kRParen) return SyntaxError(Peek().pos, "expected ')'");
      Next();
      return inner;
    }
    if (IsKeyword(tok, "exists")) {
      Next();
      auto path = Path();
      if (!path.ok()) return path.status();
      auto node = std::make_shared<Node>();
      node->kind = Node::Kind::kExists;
      node->path = *path;
      return NodePtr(node);
    }
    return Comparison();
  }

  absl::StatusOr<std::string> Path() {
    const Token& first = Peek();
    if (first.type != Token::Type::kIdent || IsReserved(first.text)) {
      return SyntaxError(first.pos, first.type == Token::Type::kEnd ? "expected a path, found the end"
                                                                    : "expected a path, found '" + first.text + "'");
    }
    std::string path = Next().text;
    while (Peek().type == Token::Type::kDot) {
      Next();
      if (Peek().type != Token::Type::kIdent) return SyntaxError(Peek().pos, "expected a name after '.'");
      path += "." + Next().text;
    }
    paths_->push_back(path);
    return path;
  }

  absl::StatusOr<NodePtr> Literal() {
    const Token& tok = Peek();
    auto node = std::make_shared<Node>();
    node->kind = Node::Kind::kLiteral;
    if (tok.type == Token::Type::kNumber) {
      double d;
      if (!absl::SimpleAtod(tok.text, &d)) return SyntaxError(tok.pos, "malformed number '" + tok.text + "'");
      node->literal = d;
    } else if (tok.type == Token::Type::kString) {
      node->literal = tok.text;
    } else if (IsKeyword(tok, "true") || IsKeyword(tok, "false")) {
      node->literal = tok.text == "true";
    } else if (IsKeyword(tok, "null")) {
      node->literal = std::monostate{};
    } else {
      return SyntaxError(tok.pos, tok.type == Token::Type::kEnd ? "expected a value, found the end"
                                                                : "expected a value, found '" + tok.text + "'");
    }
    Next();
    return NodePtr(node);
  }

  absl::StatusOr<NodePtr> Operand() {
    const Token& tok = Peek();
    if (tok.type == Token::Type::kIdent && !IsReserved(tok.text)) {
      auto path = Path();
      if (!path.ok()) return path.status();
      auto node = std::make_shared<Node>();
      node->kind = Node::Kind::kPath;
      node->path = *path;
      return NodePtr(node);
    }
    return Literal();
  }

  absl::StatusOr<NodePtr> Comparison() {
    auto lhs = Operand();
    if (!lhs.ok()) return lhs;
    if (Peek().type == Token::Type::kOp) {
      std::string op = Next().text;
      auto rhs = Operand();
      if (!rhs.ok()) return rhs;
      auto node = std::make_shared<Node>();
      node->kind = Node::Kind::kCompare;
      node->op = op;
      node->children = {*lhs, *rhs};
      return NodePtr(node);
    }
    if (IsKeyword(Peek(), "in")) {
      Next();
      if (Peek().type != Token::Type::kLBracket) return SyntaxError(Peek().pos, "expected '[' after in");
      Next();
      auto node = std::make_shared<Node>();
      node->kind = Node::Kind::kIn;
      node->children.push_back(*lhs);
      while (true) {
        auto item = Literal();
        if (!item.ok()) return item;
        node->children.push_back(*item);
        if (Peek().type == Token::Type::kComma) {
          Next();
          continue;
        }
        if (Peek().type == Token::Type::kRBracket) {
          Next();
          break;
        }
        return SyntaxError(Peek().pos, "expected ',' or ']'");
      }
      return NodePtr(node);
    }
    auto node = std::make_shared<Node>();
    node->kind = Node::Kind::kTruthy;
    node->children.push_back(*lhs);
    return NodePtr(node);
  }

  static constexpr int kMaxDepth = 32;
  std::vector<Token> t_;
  size_t i_ = 0;
  int depth_ = 0;
  std::vector<std::string>* paths_;
};

CondValue Value(const Node& n, const CondResolver& resolve) {
  if (n.kind == Node::Kind::kLiteral) return n.literal;
  auto v = resolve(n.path);
  return v ? *v : CondValue{};
}

bool Truthy(const CondValue& v) {
  if (std::holds_alternative<bool>(v)) return std::get<bool>(v);
  if (std::holds_alternative<double>(v)) return std::get<double>(v) != 0;
  if (std::holds_alternative<std::string>(v)) return !std::get<std::string>(v).empty();
  return false;
}

bool Compare(const std::string& op, const CondValue& a, const CondValue& b) {
  if (a.index() != b.index()) return op == "!=";
  if (op == "==") return a == b;
  if (op == "!=") return a != b;
  if (std::holds_alternative<std::monostate>(a) || std::holds_alternative<bool>(a)) return false;
  if (op == "<") return a < b;
  if (op == "<=") return a <= b;
  if (op == ">") return a > b;
  return a >= b;
}

bool Eval(const Node& n, const CondResolver& resolve) {
  switch (n.kind) {
    case Node::Kind::kOr:
      for (const auto& c : n.children) {
        if (Eval(*c, resolve)) return true;
      }
      return false;
    case Node::Kind::kAnd:
      for (const auto& c : n.children) {
        if (!Eval(*c, resolve)) return false;
      }
      return true;
    case Node::Kind::kNot:
      return !Eval(*n.children[0], resolve);
    case Node::Kind::kExists: {
      auto v = resolve(n.path);
      return v.has_value() && !std::holds_alternative<std::monostate>(*v);
    }
    case Node::Kind::kCompare:
      return Compare(n.op, Value(*n.children[0], resolve), Value(*n.children[1], resolve));
    case Node::Kind::kIn: {
      CondValue v = Value(*n.children[0], resolve);
      for (size_t i = 1; i < n.children.size(); ++i) {
        if (v == n.children[i]->literal) return true;
      }
      return false;
    }
    case Node::Kind::kTruthy:
      return Truthy(Value(*n.children[0], resolve));
    default:
      return false;
  }
}

}  // namespace

absl::StatusOr<Condition> Condition::Parse(const std::string& text) {
  if (text.size() > 2000) return absl::InvalidArgumentError("position 1: condition longer than 2000 characters");
  auto tokens = Lex(text);
  if (!tokens.ok()) return tokens.status();
  if (tokens->size() == 1) return SyntaxError(0, "empty condition");
  Condition c;
  Parser parser(*std::move(tokens), &c.paths_);
  auto root = parser.ParseAll();
  if (!root.ok()) return root.status();
  c.root_ = *root;
  c.text_ = text;
  return c;
}

bool Condition::Evaluate(const CondResolver& resolve) const { return root_ && Eval(*root_, resolve); }

}  // namespace perfflow
