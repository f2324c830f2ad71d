#ifndef KVASIR_ENGINE_CHAT_AST_H_
#define KVASIR_ENGINE_CHAT_AST_H_

// The parsed template: statements and expressions of the Jinja subset. Built
// once by Parse (parser.h), then only read (renders share it across
// threads).

#include <memory>
#include <string>
#include <vector>

#include "engine/chat/value.h"

namespace kvasir::engine::chat {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    kLiteral,  // literal
    kName,     // name
    kAttr,     // args[0].name
    kItem,     // args[0][args[1]]
    kSlice,    // args[0][args[1]:args[2]:args[3]] (absent parts null)
    kCall,     // args[0](args[1..]); the last keywords.size() are keyword
    kFilter,   // args[0] | name(args[1..]); keywords as in kCall
    kTest,     // args[0] is [not] name(args[1..]); negated
    kNot,      // not args[0]
    kNeg,      // -args[0]
    kPos,      // +args[0]
    kBinary,   // args[0] <name> args[1]: + - * / // % ** ~ == != < <= > >=
               // in, "not in"
    kAnd,      // args[0] and args[1]
    kOr,       // args[0] or args[1]
    kCond,     // args[0] if args[1] else args[2] (args[2] null: undefined)
    kList,     // [args...] and tuples
    kDict,     // {args[0]: args[1], ...}
  };
  Kind kind;
  int line = 0;
  Value literal;
  std::string name;
  std::vector<ExprPtr> args;
  std::vector<std::string> keywords;
  bool negated = false;
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Stmt {
  enum class Kind {
    kText,      // text
    kOutput,    // {{ expr }}
    kIf,        // if conds[0]: bodies[0] elif conds[1]: bodies[1] ... else:
                // bodies[conds.size()] when present
    kFor,       // for targets in expr [if conds[0]]: bodies[0] else bodies[1]
    kSet,       // targets = expr (one name, or several to unpack); or
                // targets[0].attr = expr when attr is not empty
    kSetBlock,  // {% set targets[0] %} bodies[0] {% endset %}
    kMacro,     // macro targets[0](targets[1..]) with defaults (null: none)
    kBreak,
    kContinue,
    kBlock,  // bodies[0] rendered in place ({% generation %})
  };
  Kind kind;
  int line = 0;
  std::string text;
  std::string attr;
  ExprPtr expr;
  std::vector<ExprPtr> conds;
  std::vector<Body> bodies;
  std::vector<std::string> targets;
  std::vector<ExprPtr> defaults;
};

}  // namespace kvasir::engine::chat

#endif  // KVASIR_ENGINE_CHAT_AST_H_
