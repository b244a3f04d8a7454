/* derl - Meta-Reward formulas: parsing, printing, validity, evaluation and
 * the token grammar a formula generator samples under. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * SECTION:formula
 *
 * A Meta-Reward is a formula over the atomic primitives g1..gK:
 *
 *     formula := sum
 *     sum     := product (('+' | '-') product)*
 *     product := unary (('*' | '/') unary)*
 *     unary   := '-' primary | primary
 *     primary := NAME | NUMBER | '(' sum ')'
 *
 * so '*' and '/' bind tighter than '+' and '-', all four associate to the
 * left (`g1 - g2 - g3` is `(g1 - g2) - g3`), and a unary minus binds tighter
 * than any binary operator (`-g1 * g2` is `(-g1) * g2`).  A unary minus may
 * stand wherever an operand may (`-g1`, `g1 * -g2`, `g1 - -g2`, `-(g1 + g2)`)
 * but not directly before another unary minus: `--g1` and `g1 * --g2` are
 * syntax errors (write `-(-g1)`).
 *
 * NAME is `gN` (1 <= N <= K, no leading zero) or the name of the N-th
 * primitive as the caller binds it (e.g. `success` for g1).  NUMBER is a
 * decimal constant: digits with an optional fraction (`2`, `0.5`, `.5`, `2.`)
 * and an optional exponent `e` or `E`, an optional sign and digits (`1e-3`,
 * `2.5E+2`).  A constant has no sign (in `-2` the minus is a unary minus),
 * and there are no hexadecimal, `nan` or `inf` constants; a constant is 0 or
 * has a magnitude in [1e-6, 1e6].  Spaces, tabs and line
 * breaks may separate tokens; any other byte outside printable ASCII is an
 * error.
 *
 * Every failure is a %DERL_FORMULA_ERROR whose message names the 1-based
 * column (byte offset + 1) and the offending token.
 */

/**
 * DERL_FORMULA_ERROR:
 * Errors in a formula's text, its validity, or a grammar's use.
 */
#define DERL_FORMULA_ERROR (derl_formula_error_quark ())
GQuark derl_formula_error_quark (void);

/**
 * DerlFormulaError:
 * @DERL_FORMULA_ERROR_SYNTAX: a byte or token that cannot stand where it
 *   does: an unexpected token or end, unbalanced parentheses, a malformed
 *   number, a NUL, control or non-ASCII byte, `--`, an empty formula; also a
 *   token a grammar does not allow there syntactically
 * @DERL_FORMULA_ERROR_LIMIT: past a limit: text length, token count, nesting
 *   depth or constant magnitude (the DERL_FORMULA_MAX_* macros); a grammar
 *   token with no valid formula left within the token budget; a grammar
 *   asked for outside what grammars support
 * @DERL_FORMULA_ERROR_UNKNOWN_NAME: a name that is neither gN (1 <= N <= K)
 *   nor a bound primitive name; the message suggests the closest name
 *   when one is a plausible typo
 * @DERL_FORMULA_ERROR_NO_PRIMITIVE: the formula names no primitive
 * @DERL_FORMULA_ERROR_NOT_FINITE: the formula does not evaluate to a finite
 *   number at a probe point (a division by zero or an overflow)
 */
typedef enum {
  DERL_FORMULA_ERROR_SYNTAX,
  DERL_FORMULA_ERROR_LIMIT,
  DERL_FORMULA_ERROR_UNKNOWN_NAME,
  DERL_FORMULA_ERROR_NO_PRIMITIVE,
  DERL_FORMULA_ERROR_NOT_FINITE,
} DerlFormulaError;

/**
 * DERL_FORMULA_MAX_LENGTH: the longest formula text, in bytes
 * DERL_FORMULA_MAX_TOKENS: the most tokens in a formula (parentheses count)
 * DERL_FORMULA_MAX_DEPTH: the deepest nesting of parentheses
 * DERL_FORMULA_MAX_CONSTANT: DERL_FORMULA_MIN_CONSTANT: the magnitude range
 *   of a nonzero constant
 * DERL_FORMULA_MAX_VARS: the most primitives a formula can be over
 */
#define DERL_FORMULA_MAX_LENGTH 4096
#define DERL_FORMULA_MAX_TOKENS 256
#define DERL_FORMULA_MAX_DEPTH 32
#define DERL_FORMULA_MAX_CONSTANT 1e6
#define DERL_FORMULA_MIN_CONSTANT 1e-6
#define DERL_FORMULA_MAX_VARS 64

/**
 * DERL_FORMULA_PROBE_LOW: DERL_FORMULA_PROBE_HIGH:
 * The values of a primitive that is not outcome-like at the first and the
 * second probe point (outcome-like primitives are 1 at both); see
 * derl_formula_check().  PROBE_HIGH is the double nearest 1 + 1e-6.
 */
#define DERL_FORMULA_PROBE_LOW 1e-6
#define DERL_FORMULA_PROBE_HIGH 1.000001

/**
 * DerlFormula:
 *
 * A parsed formula: its syntax tree and a compiled program that evaluates
 * it.  Immutable once parsed, so one formula may be evaluated from many
 * threads at once.
 */
typedef struct _DerlFormula DerlFormula;

/**
 * derl_formula_parse:
 * @text: the formula
 * @length: @text's length in bytes, or -1 when it is NUL-terminated (with a
 *   length, a NUL byte inside is an error)
 * @n_vars: K, the number of primitives (at most DERL_FORMULA_MAX_VARS)
 * @names: (nullable): K primitive names bound to g1..gK, or NULL for none.
 *   Each name that is an identifier ([A-Za-z_][A-Za-z0-9_]*) and not of the
 *   form g<digits> may stand for its gN in @text; other names cannot be
 *   written (use gN).  When a name repeats, the first binding counts.
 *
 * Parses @text.  Returns a new formula, or NULL with a %DERL_FORMULA_ERROR
 * naming the column and the token at fault.  Parsing does not check
 * validity (see derl_formula_check()).
 */
DerlFormula *derl_formula_parse (const char *text, gssize length, guint n_vars, const char *const *names,
                                 GError **error);

/**
 * derl_formula_free:
 * Frees @formula (NULL is ignored).
 */
void derl_formula_free (DerlFormula *formula);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DerlFormula, derl_formula_free)

/**
 * derl_formula_to_string:
 *
 * Returns the canonical text of @formula, newly allocated: variables as gN,
 * one space around each binary operator, none after a unary minus, only the
 * parentheses the structure needs (`g1 - (g2 - g3)` keeps its parentheses,
 * `(g1 + g2) + g3` prints as `g1 + g2 + g3`), and each constant in plain
 * decimal notation with the fewest significant digits that read back to the
 * same double (`0.1`, `1000000`, `0.000001`).  Parsing the text gives a
 * formula derl_formula_equal() to @formula.
 */
char *derl_formula_to_string (const DerlFormula *formula);

/**
 * derl_formula_equal:
 * Returns TRUE when @a and @b have the same syntax tree: the same operators,
 * variables and constants (compared as doubles) in the same structure.
 * Redundant parentheses and spacing do not count; `g1 + (g2 + g3)` and
 * `g1 + g2 + g3` differ.
 */
gboolean derl_formula_equal (const DerlFormula *a, const DerlFormula *b);

/**
 * derl_formula_eval:
 * @g: the K primitive values, g[0] for g1
 *
 * Returns the formula's value, computed operation by operation in IEEE
 * double arithmetic exactly as the syntax tree reads (no reassociation, no
 * fused multiply-add): the same bits as evaluating the tree recursively.
 * The result may be infinite or NaN.  Allocates nothing; reads only the
 * primitives the formula uses.
 */
double derl_formula_eval (const DerlFormula *formula, const double *g);

/**
 * derl_formula_uses:
 * @var: a primitive index, 0 for g1
 *
 * Returns TRUE when @formula mentions g(@var + 1).
 */
gboolean derl_formula_uses (const DerlFormula *formula, guint var);

/**
 * derl_formula_get_n_vars:
 * Returns K, the number of primitives @formula was parsed over.
 */
guint derl_formula_get_n_vars (const DerlFormula *formula);

/**
 * derl_formula_get_n_tokens:
 * Returns the number of tokens in the text @formula was parsed from,
 * parentheses included.
 */
guint derl_formula_get_n_tokens (const DerlFormula *formula);

/**
 * derl_formula_check:
 * @outcome_like: (nullable): K flags, TRUE for each outcome-like primitive
 *   (such as task success); NULL when none is
 *
 * Tells whether @formula is a valid Meta-Reward: it names at least one
 * primitive, and evaluates to a finite number at both probe points:
 *
 *  1. outcome-like primitives at 1, the others at DERL_FORMULA_PROBE_LOW (1e-6);
 *  2. outcome-like primitives at 1, the others at DERL_FORMULA_PROBE_HIGH (1 + 1e-6).
 *
 * Finite means that every operation on the way is finite too, so a formula
 * that divides by zero at a probe point is invalid even where a later
 * division by the infinity would bring the result back to a finite number.
 * Returns FALSE with %DERL_FORMULA_ERROR_NO_PRIMITIVE or
 * %DERL_FORMULA_ERROR_NOT_FINITE (naming the operation, its column and the
 * probe point) otherwise.
 */
gboolean derl_formula_check (const DerlFormula *formula, const gboolean *outcome_like, GError **error);

/**
 * SECTION:formula-grammar
 *
 * The token grammar under which an autoregressive generator writes formulas
 * token by token.  The vocabulary for K primitives and C constants holds
 * DERL_FORMULA_TOKEN_N_FIXED + K + C tokens:
 *
 *   0 .. 6                          END, `+`, `-`, `*`, `/`, `(`, `)`
 *                                   (the #DerlFormulaToken values)
 *   DERL_FORMULA_TOKEN_VAR (i)      g(i+1), for i < K
 *   DERL_FORMULA_TOKEN_VAR (K + j)  the j-th constant, for j < C
 *
 * `-` is a binary minus after an operand and a unary minus where an operand
 * is expected (never twice in a row as a unary minus, as in the language).
 * The constants are DERL_FORMULA_GRAMMAR_CONSTANTS unless the grammar is
 * made with others.  A sequence is pushed token by token onto a
 * #DerlFormulaGrammarState, whose public fields are the grammar features a
 * generator may condition on.
 *
 * derl_formula_grammar_mask() is exact: a token is allowed exactly when some
 * valid formula (in the sense of derl_formula_check()) of at most the
 * grammar's max_tokens tokens begins with the tokens so far and that token.
 * So every sequence sampled under the mask until END is a valid formula,
 * every valid formula within the budget can be sampled, and the mask always
 * allows some token until END.  The budget is at most
 * DERL_FORMULA_GRAMMAR_MAX_TOKENS: within it no operation at the probe
 * points can overflow or underflow, so the mask only needs to keep divisors
 * nonzero at both probe points (formula.c gives the argument).
 */

/**
 * DERL_FORMULA_GRAMMAR_MAX_TOKENS: the largest token budget of a grammar
 * DERL_FORMULA_GRAMMAR_MAX_CONSTANTS: the most constants in a vocabulary
 * DERL_FORMULA_GRAMMAR_CONSTANTS: the default constants, a list for an
 *   array initialiser (their count is DERL_FORMULA_GRAMMAR_N_CONSTANTS)
 */
#define DERL_FORMULA_GRAMMAR_MAX_TOKENS 38
#define DERL_FORMULA_GRAMMAR_MAX_CONSTANTS 16
#define DERL_FORMULA_GRAMMAR_CONSTANTS 0.1, 0.2, 0.5, 1, 2, 3, 5, 10
#define DERL_FORMULA_GRAMMAR_N_CONSTANTS 8

/**
 * DerlFormulaToken:
 * The fixed tokens of a grammar's vocabulary; variables and then constants
 * follow from DERL_FORMULA_TOKEN_VAR (0) = DERL_FORMULA_TOKEN_N_FIXED.
 */
typedef enum {
  DERL_FORMULA_TOKEN_END,
  DERL_FORMULA_TOKEN_ADD,
  DERL_FORMULA_TOKEN_SUB,
  DERL_FORMULA_TOKEN_MUL,
  DERL_FORMULA_TOKEN_DIV,
  DERL_FORMULA_TOKEN_OPEN,
  DERL_FORMULA_TOKEN_CLOSE,
  DERL_FORMULA_TOKEN_N_FIXED,
} DerlFormulaToken;

#define DERL_FORMULA_TOKEN_VAR(i) (DERL_FORMULA_TOKEN_N_FIXED + (i))

/**
 * DerlFormulaGrammar:
 * A vocabulary with its probe values and token budget.  Immutable; one
 * grammar serves any number of sequences, from any thread.
 */
typedef struct _DerlFormulaGrammar DerlFormulaGrammar;

/**
 * DerlFormulaGrammarFrame:
 * Private: one open parenthesis level of a #DerlFormulaGrammarState.
 */
typedef struct {
  /*< private >*/
  double sum[2], term[2];
  guint8 add_op, mul_op, neg, pad;
} DerlFormulaGrammarFrame;

/**
 * DerlFormulaGrammarState:
 * @depth: open parentheses
 * @expect_operand: TRUE where an operand (a variable, a constant, `(` or a
 *   unary `-`) comes next, FALSE where an operator, `)` or END does
 * @n_tokens: tokens pushed so far (END not counted)
 * @remaining: tokens still allowed before END (max_tokens - @n_tokens)
 * @var_used: whether a variable has been pushed
 * @in_divisor: open parentheses whose value will be a divisor
 * @finished: END has been pushed
 *
 * Where a sequence stands in the grammar: the public fields are the
 * features a generator may read.  A plain value: copy it to branch.  The
 * other fields are private.
 */
typedef struct {
  guint depth;
  gboolean expect_operand;
  guint n_tokens;
  guint remaining;
  gboolean var_used;
  guint in_divisor;
  gboolean finished;
  /*< private >*/
  guint max_tokens;
  DerlFormulaGrammarFrame frames[DERL_FORMULA_GRAMMAR_MAX_TOKENS / 2 + 1];
} DerlFormulaGrammarState;

/**
 * derl_formula_grammar_new:
 * @n_vars: K, 1 to DERL_FORMULA_MAX_VARS
 * @outcome_like: (nullable): K flags, as for derl_formula_check()
 * @constants: (nullable): the constants of the vocabulary, each 0 < c with
 *   c in [DERL_FORMULA_MIN_CONSTANT, DERL_FORMULA_MAX_CONSTANT], no two alike;
 *   NULL for DERL_FORMULA_GRAMMAR_CONSTANTS
 * @n_constants: how many (1 to DERL_FORMULA_GRAMMAR_MAX_CONSTANTS), or 0
 *   with NULL @constants
 * @max_tokens: the token budget of a formula, END not counted, 1 to
 *   DERL_FORMULA_GRAMMAR_MAX_TOKENS
 *
 * Returns a new grammar, or NULL with %DERL_FORMULA_ERROR_LIMIT when an
 * argument is out of range.
 */
DerlFormulaGrammar *derl_formula_grammar_new (guint n_vars, const gboolean *outcome_like,
                                              const double *constants, guint n_constants, guint max_tokens,
                                              GError **error);

/**
 * derl_formula_grammar_free:
 * Frees @grammar (NULL is ignored).
 */
void derl_formula_grammar_free (DerlFormulaGrammar *grammar);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DerlFormulaGrammar, derl_formula_grammar_free)

/**
 * derl_formula_grammar_get_n_vocab:
 * Returns the vocabulary size, DERL_FORMULA_TOKEN_N_FIXED + K + C.
 */
guint derl_formula_grammar_get_n_vocab (const DerlFormulaGrammar *grammar);

/**
 * derl_formula_grammar_get_max_tokens:
 * Returns the grammar's token budget.
 */
guint derl_formula_grammar_get_max_tokens (const DerlFormulaGrammar *grammar);

/**
 * derl_formula_grammar_token_text:
 * Returns the text of @token as a formula writes it ("g3", "0.5", "+",
 * "END" for END), owned by @grammar, or NULL for a token outside the
 * vocabulary.
 */
const char *derl_formula_grammar_token_text (const DerlFormulaGrammar *grammar, guint token);

/**
 * derl_formula_grammar_start:
 * Sets @state to the start of a formula: nothing pushed.
 */
void derl_formula_grammar_start (const DerlFormulaGrammar *grammar, DerlFormulaGrammarState *state);

/**
 * derl_formula_grammar_mask:
 * @mask: (out): one byte per vocabulary token
 *
 * Sets @mask[t] to 1 for each token @t that may come next and 0 for the
 * others (see the section above: the mask is exact), and returns how many
 * are allowed: at least 1 until END has been pushed, 0 after.  Allocates
 * nothing.
 */
guint derl_formula_grammar_mask (const DerlFormulaGrammar *grammar, const DerlFormulaGrammarState *state,
                                 guint8 *mask);

/**
 * derl_formula_grammar_push:
 *
 * Appends @token to @state when the mask allows it.  Otherwise returns
 * FALSE, leaves @state as it was and says why: %DERL_FORMULA_ERROR_SYNTAX
 * (cannot stand there), %DERL_FORMULA_ERROR_NOT_FINITE (`)` would close a
 * divisor that is zero at a probe point), %DERL_FORMULA_ERROR_NO_PRIMITIVE
 * (END before any variable) or %DERL_FORMULA_ERROR_LIMIT (no valid formula
 * fits in the remaining budget after it).
 */
gboolean derl_formula_grammar_push (const DerlFormulaGrammar *grammar, DerlFormulaGrammarState *state,
                                    guint token, GError **error);

/**
 * derl_formula_grammar_build:
 * @tokens: a token sequence, optionally ending with END
 *
 * Returns the formula the sequence spells (over the grammar's K variables),
 * or NULL with a %DERL_FORMULA_ERROR when it is not a formula (a token
 * outside the vocabulary is a %DERL_FORMULA_ERROR_SYNTAX).  A sequence
 * pushed under the mask up to END builds a formula that passes
 * derl_formula_check() and has as many tokens as the sequence.
 */
DerlFormula *derl_formula_grammar_build (const DerlFormulaGrammar *grammar, const guint *tokens, guint n_tokens,
                                         GError **error);

G_END_DECLS
