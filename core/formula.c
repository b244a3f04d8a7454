/* derl - Meta-Reward formulas.
 *
 * text --tokenize--> tokens --parse--> syntax tree --compile--> program
 *
 * The syntax tree is an array of nodes in post-order (children before their
 * parent, the root last), so equal trees are equal arrays and a loop over
 * the array evaluates the tree.  The program is a three-address code over a
 * small register file whose operands name a register, a primitive or a
 * constant directly; derl_formula_eval() runs it with one switch per
 * operation and no allocation.
 *
 * The second half of the file is the token grammar a generator samples
 * formulas under (derl_formula_grammar_*). */
#include "config.h"

#include <math.h>
#include <string.h>
#include "derl-private.h"
#include <derl/formula.h>

G_DEFINE_QUARK (derl-formula-error-quark, derl_formula_error)

/* ---------------------------------------------------------------- tokens */

typedef enum {
  TOK_END,
  TOK_ADD,
  TOK_SUB,
  TOK_MUL,
  TOK_DIV,
  TOK_OPEN,
  TOK_CLOSE,
  TOK_NUM,
  TOK_VAR,
} TokKind;

typedef struct {
  TokKind kind;
  guint start;   /* byte offset in the text */
  guint len;     /* bytes */
  guint var;     /* TOK_VAR: 0 for g1 */
  double value;  /* TOK_NUM */
} Tok;

/* ---------------------------------------------------------------- syntax tree */

typedef enum {
  NODE_VAR,
  NODE_CONST,
  NODE_NEG,
  NODE_ADD,
  NODE_SUB,
  NODE_MUL,
  NODE_DIV,
} NodeKind;

typedef struct {
  NodeKind kind;
  guint a, b;     /* children (b for binary nodes only) */
  guint var;      /* NODE_VAR */
  guint column;   /* of the node's token, for messages */
  double value;   /* NODE_CONST */
} Node;

/* ---------------------------------------------------------------- program */

/* Operand sources: a register, a primitive g[i], a constant. */
enum { SRC_R, SRC_G, SRC_C };

/* Opcodes: binary operation o (0 +, 1 -, 2 *, 3 /) on sources (ka, kb) is
 * o * 9 + ka * 3 + kb; negation of source ka is OP_NEG + ka. */
#define OP_NEG 36

typedef struct {
  guint8 op;
  guint8 pad;
  guint16 dst, a, b;
} Instr;

struct _DerlFormula {
  guint n_vars;
  guint n_tokens;
  guint n_nodes;
  Node *nodes;          /* post-order, root last */
  guint n_code;
  Instr *code;
  double *consts;       /* the constants the program reads */
  guint8 result_src;    /* where the value is when the program ends */
  guint16 result;
  guint64 uses;         /* bit i: g(i+1) appears */
};

/* ---------------------------------------------------------------- parser */

typedef struct {
  const char *text;
  gsize length;
  guint n_vars;
  const char *const *names;
  Tok *toks;
  guint n_toks;
  guint pos;
  Node *nodes;
  guint n_nodes;
  guint depth;
  GError **error;
} Parser;

static void parser_fail (Parser *p, DerlFormulaError code, const char *format, ...) G_GNUC_PRINTF (3, 4);

static void
parser_fail (Parser *p, DerlFormulaError code, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  if (p->error && !*p->error)
    *p->error = g_error_new_valist (DERL_FORMULA_ERROR, code, format, args);
  va_end (args);
}

/* The token's text in quotes, shortened when long; or "end of formula". */
static char *
describe_span (const Parser *p, guint start, guint len)
{
  if (len > 32)
    return g_strdup_printf ("'%.*s...'", 32, p->text + start);
  return g_strdup_printf ("'%.*s'", (int) len, p->text + start);
}

static char *
describe_tok (const Parser *p, const Tok *t)
{
  if (t->kind == TOK_END)
    return g_strdup ("end of formula");
  return describe_span (p, t->start, t->len);
}

static gboolean
is_ident_start (char c)
{
  return g_ascii_isalpha (c) || c == '_';
}

static gboolean
is_ident_char (char c)
{
  return g_ascii_isalnum (c) || c == '_';
}

/* TRUE for a name of the form g<digits>, which always means a variable. */
static gboolean
is_g_name (const char *s, gsize len)
{
  if (len < 2 || s[0] != 'g')
    return FALSE;
  for (gsize i = 1; i < len; i++)
    if (!g_ascii_isdigit (s[i]))
      return FALSE;
  return TRUE;
}

/* A caller's primitive name that may stand for its variable in a formula. */
static gboolean
usable_alias (const char *name)
{
  if (!name || !is_ident_start (name[0]))
    return FALSE;
  for (const char *c = name; *c; c++)
    if (!is_ident_char (*c))
      return FALSE;
  return !is_g_name (name, strlen (name));
}

static void
fail_unknown_name (Parser *p, const Tok *t, const char *name)
{
  guint column = t->start + 1;
  g_autoptr (GString) known = g_string_new (NULL);
  g_autoptr (GPtrArray) candidates = g_ptr_array_new_with_free_func (g_free);
  const char *suggestion = NULL;

  if (g_ascii_strcasecmp (name, "nan") == 0 || g_ascii_strcasecmp (name, "inf") == 0
      || g_ascii_strcasecmp (name, "infinity") == 0)
    {
      parser_fail (p, DERL_FORMULA_ERROR_UNKNOWN_NAME,
                   "unknown name '%s' at column %u: a formula has no nan or inf constants", name, column);
      return;
    }
  if (p->n_vars == 0)
    {
      parser_fail (p, DERL_FORMULA_ERROR_UNKNOWN_NAME,
                   "unknown name '%s' at column %u: this formula has no primitives", name, column);
      return;
    }
  g_string_printf (known, "the primitives are g1..g%u", p->n_vars);
  for (guint i = 0; i < p->n_vars; i++)
    g_ptr_array_add (candidates, g_strdup_printf ("g%u", i + 1));
  guint listed = 0;
  for (guint i = 0; p->names && i < p->n_vars; i++)
    if (usable_alias (p->names[i]))
      {
        g_ptr_array_add (candidates, g_strdup (p->names[i]));
        if (listed < 10)
          g_string_append_printf (known, "%s%s (g%u)", listed ? ", " : " or by name: ", p->names[i], i + 1);
        else if (listed == 10)
          g_string_append (known, ", ...");
        listed++;
      }
  if (!is_g_name (name, strlen (name)))
    suggestion = _derl_suggest_closest (name, (const char *const *) candidates->pdata, candidates->len);
  if (suggestion)
    parser_fail (p, DERL_FORMULA_ERROR_UNKNOWN_NAME, "unknown name '%s' at column %u (did you mean '%s'?); %s",
                 name, column, suggestion, known->str);
  else
    parser_fail (p, DERL_FORMULA_ERROR_UNKNOWN_NAME, "unknown name '%s' at column %u; %s", name, column,
                 known->str);
}

/* Resolves an identifier to a variable index, or fails. */
static gboolean
resolve_name (Parser *p, Tok *t)
{
  const char *s = p->text + t->start;
  g_autofree char *name = g_strndup (s, t->len);

  if (is_g_name (s, t->len))
    {
      if (s[1] != '0' && t->len <= 10)
        {
          guint64 n = g_ascii_strtoull (name + 1, NULL, 10);
          if (n >= 1 && n <= p->n_vars)
            {
              t->var = (guint) n - 1;
              return TRUE;
            }
        }
    }
  else
    for (guint i = 0; p->names && i < p->n_vars; i++)
      if (usable_alias (p->names[i]) && strcmp (p->names[i], name) == 0)
        {
          t->var = i;
          return TRUE;
        }
  fail_unknown_name (p, t, name);
  return FALSE;
}

/* Scans a number at @i; returns its end, or fails on a malformed one. */
static gboolean
scan_number (Parser *p, gsize i, gsize *end)
{
  const char *s = p->text;
  gsize n = p->length, j = i;
  gsize int_digits = 0, frac_digits = 0;
  gboolean ok = TRUE;

  while (j < n && g_ascii_isdigit (s[j]))
    j++, int_digits++;
  if (j < n && s[j] == '.')
    {
      j++;
      while (j < n && g_ascii_isdigit (s[j]))
        j++, frac_digits++;
    }
  if (int_digits + frac_digits == 0)
    ok = FALSE;
  if (j < n && (s[j] == 'e' || s[j] == 'E'))
    {
      gsize k = j + 1;
      if (k < n && (s[k] == '+' || s[k] == '-'))
        k++;
      if (k < n && g_ascii_isdigit (s[k]))
        while (k < n && g_ascii_isdigit (s[k]))
          k++;
      else
        ok = FALSE;
      j = k;
    }
  /* A number runs into letters, digits, '_' or '.' only when malformed. */
  while (j < n && (is_ident_char (s[j]) || s[j] == '.'))
    j++, ok = FALSE;
  *end = j;
  if (!ok)
    {
      g_autofree char *what = describe_span (p, (guint) i, (guint) (j - i));
      parser_fail (p, DERL_FORMULA_ERROR_SYNTAX, "malformed number %s at column %u", what, (guint) i + 1);
    }
  return ok;
}

static gboolean
number_value (Parser *p, Tok *t)
{
  g_autofree char *text = g_strndup (p->text + t->start, t->len);
  char *end = NULL;
  double v = g_ascii_strtod (text, &end);
  gboolean nonzero_digit = FALSE;

  for (const char *c = text; *c && *c != 'e' && *c != 'E'; c++)
    nonzero_digit |= (*c >= '1' && *c <= '9');
  if (end != text + t->len || !(v <= DERL_FORMULA_MAX_CONSTANT)
      || (nonzero_digit && !(v >= DERL_FORMULA_MIN_CONSTANT)))
    {
      g_autofree char *what = describe_span (p, t->start, t->len);
      parser_fail (p, DERL_FORMULA_ERROR_LIMIT,
                   "constant %s at column %u is out of range: a constant is 0 or between 1e-6 and 1e6", what,
                   t->start + 1);
      return FALSE;
    }
  t->value = v;
  return TRUE;
}

static gboolean
tokenize (Parser *p)
{
  const char *s = p->text;
  gsize n = p->length, i = 0;
  GArray *toks = g_array_new (FALSE, TRUE, sizeof (Tok));

  while (TRUE)
    {
      while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
      Tok t = { TOK_END, (guint) i, 0, 0, 0 };
      if (i == n)
        {
          g_array_append_val (toks, t);
          break;
        }
      guchar c = (guchar) s[i];
      gsize end = i + 1;
      switch (c)
        {
        case '+': t.kind = TOK_ADD; break;
        case '-': t.kind = TOK_SUB; break;
        case '*': t.kind = TOK_MUL; break;
        case '/': t.kind = TOK_DIV; break;
        case '(': t.kind = TOK_OPEN; break;
        case ')': t.kind = TOK_CLOSE; break;
        default:
          if (g_ascii_isdigit (c) || c == '.')
            {
              t.kind = TOK_NUM;
              if (!scan_number (p, i, &end))
                goto fail;
            }
          else if (is_ident_start ((char) c))
            {
              t.kind = TOK_VAR;
              while (end < n && is_ident_char (s[end]))
                end++;
            }
          else
            {
              if (c == 0)
                parser_fail (p, DERL_FORMULA_ERROR_SYNTAX, "NUL byte at column %u", (guint) i + 1);
              else if (c >= 0x80)
                parser_fail (p, DERL_FORMULA_ERROR_SYNTAX,
                             "non-ASCII byte 0x%02x at column %u (a formula is ASCII text)", c, (guint) i + 1);
              else if (c < 0x20 || c == 0x7f)
                parser_fail (p, DERL_FORMULA_ERROR_SYNTAX, "control character 0x%02x at column %u", c,
                             (guint) i + 1);
              else
                parser_fail (p, DERL_FORMULA_ERROR_SYNTAX, "unexpected character '%c' at column %u", c,
                             (guint) i + 1);
              goto fail;
            }
        }
      t.len = (guint) (end - i);
      if (toks->len >= DERL_FORMULA_MAX_TOKENS)
        {
          g_autofree char *what = describe_span (p, t.start, t.len);
          parser_fail (p, DERL_FORMULA_ERROR_LIMIT, "too many tokens: %s at column %u is token %u; the limit is %u",
                       what, t.start + 1, toks->len + 1, DERL_FORMULA_MAX_TOKENS);
          goto fail;
        }
      if (t.kind == TOK_NUM && !number_value (p, &t))
        goto fail;
      if (t.kind == TOK_VAR && !resolve_name (p, &t))
        goto fail;
      g_array_append_val (toks, t);
      i = end;
    }
  p->n_toks = toks->len - 1; /* END not counted */
  p->toks = (Tok *) g_array_free (toks, FALSE);
  return TRUE;

fail:
  g_array_free (toks, TRUE);
  return FALSE;
}

#define NO_NODE G_MAXUINT

static guint
add_node (Parser *p, NodeKind kind, guint a, guint b, const Tok *t)
{
  Node *node = &p->nodes[p->n_nodes];
  node->kind = kind;
  node->a = a;
  node->b = b;
  node->var = t->var;
  node->value = t->value;
  node->column = t->start + 1;
  return p->n_nodes++;
}

static void
fail_unexpected (Parser *p, const Tok *t, const char *expected)
{
  g_autofree char *what = describe_tok (p, t);
  parser_fail (p, DERL_FORMULA_ERROR_SYNTAX, "unexpected %s at column %u: expected %s", what, t->start + 1,
               expected);
}

static guint parse_sum (Parser *p);

static guint
parse_primary (Parser *p, gboolean after_minus)
{
  const Tok *t = &p->toks[p->pos];

  switch (t->kind)
    {
    case TOK_VAR:
      p->pos++;
      return add_node (p, NODE_VAR, 0, 0, t);
    case TOK_NUM:
      p->pos++;
      return add_node (p, NODE_CONST, 0, 0, t);
    case TOK_OPEN:
      {
        if (p->depth == DERL_FORMULA_MAX_DEPTH)
          {
            parser_fail (p, DERL_FORMULA_ERROR_LIMIT, "nesting too deep: '(' at column %u opens level %u; the limit is %u",
                         t->start + 1, p->depth + 1, DERL_FORMULA_MAX_DEPTH);
            return NO_NODE;
          }
        p->depth++;
        p->pos++;
        guint inner = parse_sum (p);
        if (inner == NO_NODE)
          return NO_NODE;
        const Tok *close = &p->toks[p->pos];
        if (close->kind == TOK_END)
          {
            parser_fail (p, DERL_FORMULA_ERROR_SYNTAX, "unbalanced parentheses: '(' at column %u is never closed",
                         t->start + 1);
            return NO_NODE;
          }
        if (close->kind != TOK_CLOSE)
          {
            fail_unexpected (p, close, "an operator or ')'");
            return NO_NODE;
          }
        p->pos++;
        p->depth--;
        return inner;
      }
    case TOK_SUB:
      if (after_minus)
        {
          parser_fail (p, DERL_FORMULA_ERROR_SYNTAX,
                       "'-' at column %u cannot follow a unary minus (write -(-x) for a double negation)",
                       t->start + 1);
          return NO_NODE;
        }
      G_GNUC_FALLTHROUGH;
    default:
      if (p->n_toks == 0)
        parser_fail (p, DERL_FORMULA_ERROR_SYNTAX, "empty formula at column %u: expected a primitive or a number",
                     t->start + 1);
      else
        fail_unexpected (p, t, after_minus ? "a primitive, a number or '('" : "a primitive, a number, '(' or '-'");
      return NO_NODE;
    }
}

static guint
parse_unary (Parser *p)
{
  const Tok *t = &p->toks[p->pos];

  if (t->kind != TOK_SUB)
    return parse_primary (p, FALSE);
  p->pos++;
  guint a = parse_primary (p, TRUE);
  return a == NO_NODE ? NO_NODE : add_node (p, NODE_NEG, a, 0, t);
}

static guint
parse_product (Parser *p)
{
  guint a = parse_unary (p);

  while (a != NO_NODE && (p->toks[p->pos].kind == TOK_MUL || p->toks[p->pos].kind == TOK_DIV))
    {
      const Tok *op = &p->toks[p->pos++];
      guint b = parse_unary (p);
      a = b == NO_NODE ? NO_NODE : add_node (p, op->kind == TOK_MUL ? NODE_MUL : NODE_DIV, a, b, op);
    }
  return a;
}

static guint
parse_sum (Parser *p)
{
  guint a = parse_product (p);

  while (a != NO_NODE && (p->toks[p->pos].kind == TOK_ADD || p->toks[p->pos].kind == TOK_SUB))
    {
      const Tok *op = &p->toks[p->pos++];
      guint b = parse_product (p);
      a = b == NO_NODE ? NO_NODE : add_node (p, op->kind == TOK_ADD ? NODE_ADD : NODE_SUB, a, b, op);
    }
  return a;
}

/* ---------------------------------------------------------------- compiler */

typedef struct {
  guint8 src;
  guint16 index;
} Operand;

typedef struct {
  DerlFormula *f;
  guint n_consts;
} Compiler;

/* Emits the code computing node @i with registers from @reg up free;
 * returns where its value is.  Leaves emit nothing. */
static Operand
compile_node (Compiler *c, guint i, guint reg)
{
  const Node *node = &c->f->nodes[i];
  Operand a, b;

  switch (node->kind)
    {
    case NODE_VAR:
      return (Operand) { SRC_G, (guint16) node->var };
    case NODE_CONST:
      c->f->consts[c->n_consts] = node->value;
      return (Operand) { SRC_C, (guint16) c->n_consts++ };
    case NODE_NEG:
      a = compile_node (c, node->a, reg);
      c->f->code[c->f->n_code++] = (Instr) { (guint8) (OP_NEG + a.src), 0, (guint16) reg, a.index, 0 };
      return (Operand) { SRC_R, (guint16) reg };
    default:
      a = compile_node (c, node->a, reg);
      b = compile_node (c, node->b, a.src == SRC_R ? reg + 1 : reg);
      c->f->code[c->f->n_code++] =
        (Instr) { (guint8) ((node->kind - NODE_ADD) * 9 + a.src * 3 + b.src), 0, (guint16) reg, a.index, b.index };
      return (Operand) { SRC_R, (guint16) reg };
    }
}

static void
compile (DerlFormula *f)
{
  Compiler c = { f, 0 };

  f->code = g_new (Instr, f->n_nodes);
  f->consts = g_new (double, f->n_nodes);
  f->n_code = 0;
  Operand result = compile_node (&c, f->n_nodes - 1, 0);
  f->result_src = result.src;
  f->result = result.index;
}

/* ---------------------------------------------------------------- public */

DerlFormula *
derl_formula_parse (const char *text, gssize length, guint n_vars, const char *const *names, GError **error)
{
  g_return_val_if_fail (text != NULL || length == 0, NULL);
  g_return_val_if_fail (n_vars <= DERL_FORMULA_MAX_VARS, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  gsize len = length < 0 ? strlen (text) : (gsize) length;
  if (len > DERL_FORMULA_MAX_LENGTH)
    {
      g_set_error (error, DERL_FORMULA_ERROR, DERL_FORMULA_ERROR_LIMIT,
                   "formula too long: %" G_GSIZE_FORMAT " bytes; the limit is %u (column %u is past it)", len,
                   DERL_FORMULA_MAX_LENGTH, DERL_FORMULA_MAX_LENGTH + 1);
      return NULL;
    }

  Parser p = { .text = text ? text : "", .length = len, .n_vars = n_vars, .names = names, .error = error };
  if (!tokenize (&p))
    return NULL;
  p.nodes = g_new (Node, MAX (p.n_toks, 1));
  guint root = parse_sum (&p);
  if (root != NO_NODE && p.toks[p.pos].kind != TOK_END)
    {
      const Tok *t = &p.toks[p.pos];
      if (t->kind == TOK_CLOSE)
        parser_fail (&p, DERL_FORMULA_ERROR_SYNTAX, "unbalanced parentheses: ')' at column %u has no matching '('",
                     t->start + 1);
      else
        fail_unexpected (&p, t, "an operator or the end of the formula");
      root = NO_NODE;
    }
  if (root == NO_NODE)
    {
      g_free (p.toks);
      g_free (p.nodes);
      return NULL;
    }

  DerlFormula *f = g_new0 (DerlFormula, 1);
  f->n_vars = n_vars;
  f->n_tokens = p.n_toks;
  f->n_nodes = p.n_nodes;
  f->nodes = p.nodes;
  for (guint i = 0; i < f->n_nodes; i++)
    if (f->nodes[i].kind == NODE_VAR)
      f->uses |= G_GUINT64_CONSTANT (1) << f->nodes[i].var;
  compile (f);
  g_free (p.toks);
  return f;
}

void
derl_formula_free (DerlFormula *formula)
{
  if (!formula)
    return;
  g_free (formula->nodes);
  g_free (formula->code);
  g_free (formula->consts);
  g_free (formula);
}

guint
derl_formula_get_n_vars (const DerlFormula *formula)
{
  g_return_val_if_fail (formula != NULL, 0);
  return formula->n_vars;
}

guint
derl_formula_get_n_tokens (const DerlFormula *formula)
{
  g_return_val_if_fail (formula != NULL, 0);
  return formula->n_tokens;
}

gboolean
derl_formula_uses (const DerlFormula *formula, guint var)
{
  g_return_val_if_fail (formula != NULL, FALSE);
  return var < formula->n_vars && (formula->uses >> var) & 1;
}

gboolean
derl_formula_equal (const DerlFormula *a, const DerlFormula *b)
{
  g_return_val_if_fail (a != NULL && b != NULL, FALSE);
  if (a->n_nodes != b->n_nodes)
    return FALSE;
  for (guint i = 0; i < a->n_nodes; i++)
    {
      const Node *x = &a->nodes[i], *y = &b->nodes[i];
      if (x->kind != y->kind)
        return FALSE;
      switch (x->kind)
        {
        case NODE_VAR:
          if (x->var != y->var)
            return FALSE;
          break;
        case NODE_CONST:
          if (x->value != y->value)
            return FALSE;
          break;
        case NODE_NEG:
          if (x->a != y->a)
            return FALSE;
          break;
        default:
          if (x->a != y->a || x->b != y->b)
            return FALSE;
        }
    }
  return TRUE;
}

/* ---------------------------------------------------------------- evaluation */

#define LOAD_0(i) r[i]
#define LOAD_1(i) g[i]
#define LOAD_2(i) c[i]
#define BINARY_CASE(o, OP, ka, kb) \
  case (o) * 9 + (ka) * 3 + (kb): r[in->dst] = LOAD_##ka (in->a) OP LOAD_##kb (in->b); break;
#define BINARY_CASES(o, OP) \
  BINARY_CASE (o, OP, 0, 0) BINARY_CASE (o, OP, 0, 1) BINARY_CASE (o, OP, 0, 2) \
  BINARY_CASE (o, OP, 1, 0) BINARY_CASE (o, OP, 1, 1) BINARY_CASE (o, OP, 1, 2) \
  BINARY_CASE (o, OP, 2, 0) BINARY_CASE (o, OP, 2, 1) BINARY_CASE (o, OP, 2, 2)

double
derl_formula_eval (const DerlFormula *formula, const double *g)
{
  g_return_val_if_fail (formula != NULL && g != NULL, NAN);

  /* One register per operation at most: registers follow a stack
   * discipline and a formula has fewer operations than tokens. */
  double r[DERL_FORMULA_MAX_TOKENS];
  const double *c = formula->consts;
  const Instr *in = formula->code, *end = in + formula->n_code;

  for (; in < end; in++)
    switch (in->op)
      {
      BINARY_CASES (0, +)
      BINARY_CASES (1, -)
      BINARY_CASES (2, *)
      BINARY_CASES (3, /)
      case OP_NEG + SRC_R: r[in->dst] = -r[in->a]; break;
      case OP_NEG + SRC_G: r[in->dst] = -g[in->a]; break;
      case OP_NEG + SRC_C: r[in->dst] = -c[in->a]; break;
      default: break;
      }
  switch (formula->result_src)
    {
    case SRC_R: return r[formula->result];
    case SRC_G: return g[formula->result];
    default: return c[formula->result];
    }
}

/* ---------------------------------------------------------------- printing */

/* Writes @v (finite, >= 0) in plain decimal notation with the fewest
 * significant digits that read back to @v. */
static void
format_constant (GString *out, double v)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE], format[16];
  char digits[24];
  int n = 0, exponent = 0;

  if (v == 0)
    {
      g_string_append_c (out, '0');
      return;
    }
  for (int precision = 1; precision <= 17; precision++)
    {
      g_snprintf (format, sizeof format, "%%.%de", precision - 1);
      g_ascii_formatd (buf, sizeof buf, format, v);
      if (g_ascii_strtod (buf, NULL) == v)
        break;
    }
  /* buf is d[.ddd]e[+-]xx */
  const char *s = buf;
  for (; *s && *s != 'e'; s++)
    if (g_ascii_isdigit (*s))
      digits[n++] = *s;
  exponent = *s == 'e' ? (int) g_ascii_strtoll (s + 1, NULL, 10) : 0;
  if (exponent >= 0)
    {
      for (int i = 0; i <= exponent; i++)
        g_string_append_c (out, i < n ? digits[i] : '0');
      if (n > exponent + 1)
        {
          g_string_append_c (out, '.');
          g_string_append_len (out, digits + exponent + 1, n - exponent - 1);
        }
    }
  else
    {
      g_string_append (out, "0.");
      for (int i = 0; i < -exponent - 1; i++)
        g_string_append_c (out, '0');
      g_string_append_len (out, digits, n);
    }
}

/* Binding strength: sums 1, products 2, negation 3, leaves 4. */
static int
precedence (const Node *node)
{
  switch (node->kind)
    {
    case NODE_ADD: case NODE_SUB: return 1;
    case NODE_MUL: case NODE_DIV: return 2;
    case NODE_NEG: return 3;
    default: return 4;
    }
}

static void print_node (GString *out, const DerlFormula *f, guint i);

static void
print_operand (GString *out, const DerlFormula *f, guint i, gboolean parens)
{
  if (parens)
    g_string_append_c (out, '(');
  print_node (out, f, i);
  if (parens)
    g_string_append_c (out, ')');
}

static void
print_node (GString *out, const DerlFormula *f, guint i)
{
  static const char *const ops[] = { " + ", " - ", " * ", " / " };
  const Node *node = &f->nodes[i];

  switch (node->kind)
    {
    case NODE_VAR:
      g_string_append_printf (out, "g%u", node->var + 1);
      break;
    case NODE_CONST:
      format_constant (out, node->value);
      break;
    case NODE_NEG:
      /* `--x` does not parse: a negated negation keeps its parentheses. */
      g_string_append_c (out, '-');
      print_operand (out, f, node->a, precedence (&f->nodes[node->a]) <= 3);
      break;
    default:
      {
        int p = precedence (node);
        /* Left associativity: a left operand of the same strength needs no
         * parentheses, a right one does. */
        print_operand (out, f, node->a, precedence (&f->nodes[node->a]) < p);
        g_string_append (out, ops[node->kind - NODE_ADD]);
        print_operand (out, f, node->b, precedence (&f->nodes[node->b]) <= p);
      }
    }
}

char *
derl_formula_to_string (const DerlFormula *formula)
{
  g_return_val_if_fail (formula != NULL, NULL);
  GString *out = g_string_new (NULL);
  print_node (out, formula, formula->n_nodes - 1);
  return g_string_free (out, FALSE);
}

/* ---------------------------------------------------------------- validity */

static const char *
node_symbol (const Node *node)
{
  static const char *const symbols[] = { "g", "constant", "-", "+", "-", "*", "/" };
  return symbols[node->kind];
}

gboolean
derl_formula_check (const DerlFormula *formula, const gboolean *outcome_like, GError **error)
{
  g_return_val_if_fail (formula != NULL, FALSE);
  static const double others[2] = { DERL_FORMULA_PROBE_LOW, DERL_FORMULA_PROBE_HIGH };
  static const char *const others_text[2] = { "1e-6", "1 + 1e-6" };
  double value[DERL_FORMULA_MAX_TOKENS];

  if (formula->uses == 0)
    {
      g_set_error (error, DERL_FORMULA_ERROR, DERL_FORMULA_ERROR_NO_PRIMITIVE,
                   "the formula names no primitive (g1..g%u)", formula->n_vars);
      return FALSE;
    }
  for (guint probe = 0; probe < 2; probe++)
    for (guint i = 0; i < formula->n_nodes; i++)
      {
        const Node *node = &formula->nodes[i];
        double v, divisor = 1;
        switch (node->kind)
          {
          case NODE_VAR: v = outcome_like && outcome_like[node->var] ? 1.0 : others[probe]; break;
          case NODE_CONST: v = node->value; break;
          case NODE_NEG: v = -value[node->a]; break;
          case NODE_ADD: v = value[node->a] + value[node->b]; break;
          case NODE_SUB: v = value[node->a] - value[node->b]; break;
          case NODE_MUL: v = value[node->a] * value[node->b]; break;
          default: divisor = value[node->b]; v = value[node->a] / divisor; break;
          }
        if (!isfinite (v))
          {
            g_set_error (error, DERL_FORMULA_ERROR, DERL_FORMULA_ERROR_NOT_FINITE,
                         "'%s' at column %u %s at probe point %u (outcome-like primitives at 1, the others at %s)",
                         node_symbol (node), node->column, divisor == 0 ? "divides by zero" : "overflows",
                         probe + 1, others_text[probe]);
            return FALSE;
          }
        value[i] = v;
      }
  return TRUE;
}

/* ---------------------------------------------------------------- grammar
 *
 * A state is the partial evaluation, at both probe points, of the formula
 * pushed so far: one frame per open parenthesis (frame 0 the top level),
 * each holding the sum so far and the pending additive operator, the
 * product so far and the pending multiplicative operator, and a pending
 * unary minus.  An operand (a variable, a constant, or a parenthesis as it
 * closes) is negated if a minus is pending and combined into the product;
 * `+`/`-` fold the product into the sum.  These are the operations of the
 * syntax tree in its order, so the values are bit for bit those
 * derl_formula_check() computes.
 *
 * Why only divisors need watching (no overflow, no underflow).  Let A(e)
 * bound |log2 |v|| over the nonzero values v of a subexpression e at the
 * probe points, and T(e) its tokens.  A leaf has A <= log2 1e6 < 19.94
 * (primitives are 1, 1e-6 or 1 + 1e-6; constants lie in [1e-6, 1e6]).
 * While all values are normal doubles, a product or quotient has
 * A <= A(a) + A(b) (plus rounding, < 2^-50), and a nonzero sum or
 * difference of a and b is a nonzero multiple of the smaller operand's
 * ulp, so A <= max (A(a), A(b)) + 53.  Negation and parentheses leave A
 * alone.  Hence A(e) <= 26.5 T(e) by induction (for a sum,
 * 26.5 max (T(a), T(b)) + 53 <= 26.5 (T(a) + T(b) + 1) as T >= 1), and a
 * formula of at most DERL_FORMULA_GRAMMAR_MAX_TOKENS = 38 tokens has
 * A <= 1007 < 1022: every value is 0 or a normal finite double.  So a
 * product or quotient of nonzero values is nonzero, a sum is zero exactly
 * when its operands cancel, and the only way to a non-finite value is a
 * divisor that is exactly zero, which the state shows when `)` closes it
 * (a variable or constant divisor is never zero).
 *
 * Exactness.  A token is allowed when the state after it can still be
 * completed into a valid formula within the budget.  Two bounds decide
 * almost every case at once: no completion is shorter than the operand
 * still missing, the `)` still owed, a `+ g1` when no variable is used yet
 * (or a `+ c` when the innermost open divisor is zero as it stands); and
 * the completion "an operand, then for each open parenthesis `+ c` if it
 * is a divisor that would close to zero, `)`, and `+ g1` at the end if no
 * variable is used yet" always exists (one of `+ c`, `- c` makes a sum
 * with a zero at one probe point nonzero at both), so a state with at
 * least that many tokens left is feasible.  Between the bounds, a greedy
 * completion (greedy_cost) often shows the state feasible, and otherwise a
 * depth-first search over the next tokens settles it, exactly.  The tests
 * compare the mask with the parser and derl_formula_check() on every token
 * string of small vocabularies. */

struct _DerlFormulaGrammar {
  guint n_vars, n_consts, n_vocab, max_tokens;
  gboolean outcome_like[DERL_FORMULA_MAX_VARS];
  double value[2][DERL_FORMULA_MAX_VARS + DERL_FORMULA_GRAMMAR_MAX_CONSTANTS]; /* operand tokens' probe values */
  char **texts;
};

typedef DerlFormulaGrammarState State;
typedef DerlFormulaGrammarFrame Frame;

/* What a token would do: be accepted, or why not. */
typedef enum {
  STATUS_OK,
  STATUS_SYNTAX,
  STATUS_ZERO,      /* `)` closing a divisor that is zero at a probe point */
  STATUS_NO_VAR,    /* END before any variable */
  STATUS_LIMIT,     /* no valid completion within the budget */
} Status;

#define MAX_FRAMES G_N_ELEMENTS (((State *) NULL)->frames)

DerlFormulaGrammar *
derl_formula_grammar_new (guint n_vars, const gboolean *outcome_like, const double *constants, guint n_constants,
                          guint max_tokens, GError **error)
{
  static const double defaults[] = { DERL_FORMULA_GRAMMAR_CONSTANTS };
  G_STATIC_ASSERT (G_N_ELEMENTS (defaults) == DERL_FORMULA_GRAMMAR_N_CONSTANTS);

  if (!constants)
    {
      if (n_constants != 0)
        {
          g_set_error (error, DERL_FORMULA_ERROR, DERL_FORMULA_ERROR_LIMIT,
                       "grammar: %u constants asked for but none given", n_constants);
          return NULL;
        }
      constants = defaults;
      n_constants = G_N_ELEMENTS (defaults);
    }
  if (n_vars < 1 || n_vars > DERL_FORMULA_MAX_VARS)
    {
      g_set_error (error, DERL_FORMULA_ERROR, DERL_FORMULA_ERROR_LIMIT,
                   "grammar: %u primitives; a grammar has 1 to %u", n_vars, DERL_FORMULA_MAX_VARS);
      return NULL;
    }
  if (max_tokens < 1 || max_tokens > DERL_FORMULA_GRAMMAR_MAX_TOKENS)
    {
      g_set_error (error, DERL_FORMULA_ERROR, DERL_FORMULA_ERROR_LIMIT,
                   "grammar: a budget of %u tokens; a grammar allows 1 to %u", max_tokens,
                   DERL_FORMULA_GRAMMAR_MAX_TOKENS);
      return NULL;
    }
  if (n_constants < 1 || n_constants > DERL_FORMULA_GRAMMAR_MAX_CONSTANTS)
    {
      g_set_error (error, DERL_FORMULA_ERROR, DERL_FORMULA_ERROR_LIMIT,
                   "grammar: %u constants; a grammar has 1 to %u", n_constants, DERL_FORMULA_GRAMMAR_MAX_CONSTANTS);
      return NULL;
    }
  for (guint j = 0; j < n_constants; j++)
    {
      double c = constants[j];
      if (!(c >= DERL_FORMULA_MIN_CONSTANT && c <= DERL_FORMULA_MAX_CONSTANT))
        {
          g_set_error (error, DERL_FORMULA_ERROR, DERL_FORMULA_ERROR_LIMIT,
                       "grammar: constant %g is out of range: grammar constants lie between 1e-6 and 1e6", c);
          return NULL;
        }
      for (guint k = 0; k < j; k++)
        if (constants[k] == c)
          {
            g_set_error (error, DERL_FORMULA_ERROR, DERL_FORMULA_ERROR_LIMIT,
                         "grammar: constant %g appears twice", c);
            return NULL;
          }
    }

  DerlFormulaGrammar *g = g_new0 (DerlFormulaGrammar, 1);
  g->n_vars = n_vars;
  g->n_consts = n_constants;
  g->n_vocab = DERL_FORMULA_TOKEN_N_FIXED + n_vars + n_constants;
  g->max_tokens = max_tokens;
  g->texts = g_new0 (char *, g->n_vocab + 1);
  static const char *const fixed[] = { "END", "+", "-", "*", "/", "(", ")" };
  for (guint t = 0; t < DERL_FORMULA_TOKEN_N_FIXED; t++)
    g->texts[t] = g_strdup (fixed[t]);
  for (guint i = 0; i < n_vars; i++)
    {
      g->outcome_like[i] = outcome_like && outcome_like[i];
      g->value[0][i] = g->outcome_like[i] ? 1.0 : DERL_FORMULA_PROBE_LOW;
      g->value[1][i] = g->outcome_like[i] ? 1.0 : DERL_FORMULA_PROBE_HIGH;
      g->texts[DERL_FORMULA_TOKEN_VAR (i)] = g_strdup_printf ("g%u", i + 1);
    }
  for (guint j = 0; j < n_constants; j++)
    {
      GString *text = g_string_new (NULL);
      format_constant (text, constants[j]);
      g->value[0][n_vars + j] = g->value[1][n_vars + j] = constants[j];
      g->texts[DERL_FORMULA_TOKEN_VAR (n_vars + j)] = g_string_free (text, FALSE);
    }
  return g;
}

void
derl_formula_grammar_free (DerlFormulaGrammar *grammar)
{
  if (!grammar)
    return;
  g_strfreev (grammar->texts);
  g_free (grammar);
}

guint
derl_formula_grammar_get_n_vocab (const DerlFormulaGrammar *grammar)
{
  g_return_val_if_fail (grammar != NULL, 0);
  return grammar->n_vocab;
}

guint
derl_formula_grammar_get_max_tokens (const DerlFormulaGrammar *grammar)
{
  g_return_val_if_fail (grammar != NULL, 0);
  return grammar->max_tokens;
}

const char *
derl_formula_grammar_token_text (const DerlFormulaGrammar *grammar, guint token)
{
  g_return_val_if_fail (grammar != NULL, NULL);
  return token < grammar->n_vocab ? grammar->texts[token] : NULL;
}

static void
frame_clear (Frame *f)
{
  f->add_op = f->mul_op = f->neg = 0;
}

void
derl_formula_grammar_start (const DerlFormulaGrammar *grammar, DerlFormulaGrammarState *state)
{
  g_return_if_fail (grammar != NULL && state != NULL);
  state->depth = 0;
  state->expect_operand = TRUE;
  state->n_tokens = 0;
  state->remaining = grammar->max_tokens;
  state->var_used = FALSE;
  state->in_divisor = 0;
  state->finished = FALSE;
  state->max_tokens = grammar->max_tokens;
  frame_clear (&state->frames[0]);
}

/* The value a frame closes to: the sum so far with its pending product. */
static inline void
frame_fold (const Frame *f, double out[2])
{
  for (int p = 0; p < 2; p++)
    out[p] = f->add_op == 0 ? f->term[p]
             : f->add_op == DERL_FORMULA_TOKEN_ADD ? f->sum[p] + f->term[p] : f->sum[p] - f->term[p];
}

static inline gboolean
has_zero (const double v[2])
{
  return v[0] == 0 || v[1] == 0;
}

/* Combines an operand into the frame's product; FALSE for a zero divisor. */
static gboolean
frame_deliver (Frame *f, const double operand[2])
{
  double v[2] = { operand[0], operand[1] };

  if (f->neg)
    v[0] = -v[0], v[1] = -v[1];
  if (f->mul_op == DERL_FORMULA_TOKEN_DIV && has_zero (v))
    return FALSE;
  for (int p = 0; p < 2; p++)
    f->term[p] = f->mul_op == 0 ? v[p]
                 : f->mul_op == DERL_FORMULA_TOKEN_MUL ? f->term[p] * v[p] : f->term[p] / v[p];
  f->neg = 0;
  f->mul_op = 0;
  return TRUE;
}

/* Whether the innermost frame is an open divisor. */
static inline gboolean
top_is_divisor (const State *s)
{
  return s->depth > 0 && s->frames[s->depth - 1].mul_op == DERL_FORMULA_TOKEN_DIV;
}

/* Applies a token, checking syntax and divisors only (not the budget). */
static Status
apply (const DerlFormulaGrammar *g, State *s, guint t)
{
  Frame *f = &s->frames[s->depth];

  if (s->finished || t >= g->n_vocab)
    return STATUS_SYNTAX;
  if (t == DERL_FORMULA_TOKEN_END)
    {
      if (s->expect_operand || s->depth > 0)
        return STATUS_SYNTAX;
      if (!s->var_used)
        return STATUS_NO_VAR;
      s->finished = TRUE;
      return STATUS_OK;
    }
  if (s->expect_operand)
    {
      if (t >= DERL_FORMULA_TOKEN_N_FIXED)
        {
          guint k = t - DERL_FORMULA_TOKEN_N_FIXED;
          double v[2] = { g->value[0][k], g->value[1][k] };
          if (!frame_deliver (f, v))
            return STATUS_ZERO;
          s->expect_operand = FALSE;
          s->var_used |= k < g->n_vars;
        }
      else if (t == DERL_FORMULA_TOKEN_SUB)
        {
          if (f->neg)
            return STATUS_SYNTAX;
          f->neg = 1;
        }
      else if (t == DERL_FORMULA_TOKEN_OPEN)
        {
          if (s->depth + 1 >= MAX_FRAMES || s->depth + 1 > DERL_FORMULA_MAX_DEPTH)
            return STATUS_LIMIT;
          s->in_divisor += f->mul_op == DERL_FORMULA_TOKEN_DIV;
          frame_clear (&s->frames[++s->depth]);
        }
      else
        return STATUS_SYNTAX;
    }
  else
    switch (t)
      {
      case DERL_FORMULA_TOKEN_ADD:
      case DERL_FORMULA_TOKEN_SUB:
        for (int p = 0; p < 2; p++)
          f->sum[p] = f->add_op == 0 ? f->term[p]
                      : f->add_op == DERL_FORMULA_TOKEN_ADD ? f->sum[p] + f->term[p] : f->sum[p] - f->term[p];
        f->add_op = (guint8) t;
        s->expect_operand = TRUE;
        break;
      case DERL_FORMULA_TOKEN_MUL:
      case DERL_FORMULA_TOKEN_DIV:
        f->mul_op = (guint8) t;
        s->expect_operand = TRUE;
        break;
      case DERL_FORMULA_TOKEN_CLOSE:
        {
          if (s->depth == 0)
            return STATUS_SYNTAX;
          double v[2];
          frame_fold (f, v);
          s->in_divisor -= top_is_divisor (s);
          if (!frame_deliver (&s->frames[--s->depth], v))
            return STATUS_ZERO;
          break;
        }
      default:
        return STATUS_SYNTAX;
      }
  s->n_tokens++;
  s->remaining--;
  return STATUS_OK;
}

/* Tokens every completion of @s needs at least, without the fix of a zero
 * innermost divisor (see the comment above). */
static inline guint
base_cost (const State *s)
{
  return (s->expect_operand ? 1 : 0) + s->depth + (!s->var_used && !s->expect_operand ? 2 : 0);
}

static guint
lower_bound (const State *s)
{
  guint base = base_cost (s);
  if (!s->expect_operand && s->var_used && top_is_divisor (s))
    {
      double v[2];
      frame_fold (&s->frames[s->depth], v);
      if (has_zero (v))
        base += 2;
    }
  return base;
}

/* The length of a completion that always exists (see above). */
static inline guint
upper_bound (const State *s)
{
  return base_cost (s) + 2 * s->in_divisor;
}

static void
state_copy (State *dst, const State *src)
{
  memcpy (dst, src, G_STRUCT_OFFSET (State, frames) + (src->depth + 1) * sizeof (Frame));
}

/* The length of one valid completion of @s, found greedily: an operand
 * (a variable while none is used), then for each open parenthesis a
 * `+ x` or `- x` where it is a divisor that would close to zero, `)`; and
 * `+ g1` at the end while no variable is used.  An achievable length, so
 * an upper bound on the shortest completion, often the shortest itself. */
static guint
greedy_cost (const DerlFormulaGrammar *g, const State *s)
{
  const guint first_var = DERL_FORMULA_TOKEN_VAR (0), first_const = DERL_FORMULA_TOKEN_VAR (g->n_vars);
  State t;
  guint cost = 0;

  state_copy (&t, s);
  t.remaining = G_MAXUINT / 2; /* the budget is counted here, not in @t */
  if (t.expect_operand)
    {
      if (apply (g, &t, t.var_used ? first_const : first_var) != STATUS_OK)
        return G_MAXUINT;
      cost++;
    }
  while (t.depth > 0)
    {
      double v[2];
      frame_fold (&t.frames[t.depth], v);
      if (top_is_divisor (&t) && has_zero (v))
        {
          gboolean fixed = FALSE;
          for (guint x = first_var; x < g->n_vocab && !fixed; x++)
            for (guint op = DERL_FORMULA_TOKEN_ADD; op <= DERL_FORMULA_TOKEN_SUB && !fixed; op++)
              {
                double a = g->value[0][x - first_var], b = g->value[1][x - first_var];
                double w0 = op == DERL_FORMULA_TOKEN_ADD ? v[0] + a : v[0] - a;
                double w1 = op == DERL_FORMULA_TOKEN_ADD ? v[1] + b : v[1] - b;
                fixed = w0 != 0 && w1 != 0;
                if (fixed && (apply (g, &t, op) != STATUS_OK || apply (g, &t, x) != STATUS_OK))
                  return G_MAXUINT;
              }
          if (!fixed)
            return G_MAXUINT;
          cost += 2;
        }
      if (apply (g, &t, DERL_FORMULA_TOKEN_CLOSE) != STATUS_OK)
        return G_MAXUINT;
      cost++;
    }
  return cost + (t.var_used ? 0 : 2);
}

/* Whether some token sequence ending with END leads from @s to a valid
 * formula within the remaining budget. */
static gboolean
feasible (const DerlFormulaGrammar *g, const State *s)
{
  if (s->remaining < lower_bound (s))
    return FALSE;
  if (s->remaining >= upper_bound (s))
    return TRUE;
  if (s->remaining == 0)
    return FALSE;
  if (s->remaining >= greedy_cost (g, s))
    return TRUE;

  /* Likeliest first: close, an operand, an operator, a parenthesis.
   * Variables with equal probe values lead to equal states: one of each
   * kind is tried. */
  gboolean tried_kind[2] = { FALSE, FALSE };
  State next;
  for (guint i = 0; i < g->n_vocab - 1; i++)
    {
      guint t = i == 0 ? DERL_FORMULA_TOKEN_CLOSE
                : i <= g->n_vocab - DERL_FORMULA_TOKEN_N_FIXED ? DERL_FORMULA_TOKEN_N_FIXED + i - 1
                : i - (g->n_vocab - DERL_FORMULA_TOKEN_N_FIXED);  /* ADD .. OPEN */
      if (t >= DERL_FORMULA_TOKEN_N_FIXED && t - DERL_FORMULA_TOKEN_N_FIXED < g->n_vars)
        {
          gboolean kind = g->outcome_like[t - DERL_FORMULA_TOKEN_N_FIXED];
          if (tried_kind[kind])
            continue;
          tried_kind[kind] = TRUE;
        }
      state_copy (&next, s);
      if (apply (g, &next, t) == STATUS_OK && feasible (g, &next))
        return TRUE;
    }
  return FALSE;
}

/* What pushing @t onto @s would do.  Decides from the bounds without
 * copying the state where it can. */
static Status
token_status (const DerlFormulaGrammar *g, const State *s, guint t)
{
  if (s->finished || t >= g->n_vocab)
    return STATUS_SYNTAX;
  if (t == DERL_FORMULA_TOKEN_END)
    return s->expect_operand || s->depth > 0 ? STATUS_SYNTAX : s->var_used ? STATUS_OK : STATUS_NO_VAR;

  const Frame *f = &s->frames[s->depth];
  guint lb, ub;  /* bounds for the state after @t */
  if (s->expect_operand)
    {
      if (t >= DERL_FORMULA_TOKEN_N_FIXED)
        {
          gboolean var = t - DERL_FORMULA_TOKEN_N_FIXED < g->n_vars;
          lb = s->depth + (s->var_used || var ? 0 : 2);
          ub = lb + 2 * s->in_divisor;
        }
      else if (t == DERL_FORMULA_TOKEN_SUB)
        {
          if (f->neg)
            return STATUS_SYNTAX;
          lb = 1 + s->depth;
          ub = lb + 2 * s->in_divisor;
        }
      else if (t == DERL_FORMULA_TOKEN_OPEN)
        {
          if (s->depth + 1 >= MAX_FRAMES || s->depth + 1 > DERL_FORMULA_MAX_DEPTH)
            return STATUS_LIMIT;
          lb = 2 + s->depth;
          ub = lb + 2 * (s->in_divisor + (f->mul_op == DERL_FORMULA_TOKEN_DIV));
        }
      else
        return STATUS_SYNTAX;
    }
  else if (t == DERL_FORMULA_TOKEN_CLOSE)
    {
      if (s->depth == 0)
        return STATUS_SYNTAX;
      gboolean divisor = top_is_divisor (s);
      if (divisor)
        {
          double v[2];
          frame_fold (f, v);
          if (has_zero (v))
            return STATUS_ZERO;
        }
      lb = s->depth - 1 + (s->var_used ? 0 : 2);
      ub = lb + 2 * (s->in_divisor - divisor);
    }
  else if (t >= DERL_FORMULA_TOKEN_ADD && t <= DERL_FORMULA_TOKEN_DIV)
    {
      lb = 1 + s->depth;
      ub = lb + 2 * s->in_divisor;
    }
  else
    return STATUS_SYNTAX;

  if (s->remaining == 0 || s->remaining - 1 < lb)
    return STATUS_LIMIT;
  if (s->remaining - 1 >= ub)
    return STATUS_OK;
  State next;
  state_copy (&next, s);
  Status status = apply (g, &next, t);
  if (status != STATUS_OK)
    return status;
  return feasible (g, &next) ? STATUS_OK : STATUS_LIMIT;
}

guint
derl_formula_grammar_mask (const DerlFormulaGrammar *grammar, const DerlFormulaGrammarState *state, guint8 *mask)
{
  g_return_val_if_fail (grammar != NULL && state != NULL && mask != NULL, 0);
  guint n = 0;
  int kind_status[2] = { -1, -1 };  /* variables of one kind share their status */

  for (guint t = 0; t < grammar->n_vocab; t++)
    {
      Status status;
      if (t >= DERL_FORMULA_TOKEN_N_FIXED && t - DERL_FORMULA_TOKEN_N_FIXED < grammar->n_vars)
        {
          gboolean kind = grammar->outcome_like[t - DERL_FORMULA_TOKEN_N_FIXED];
          if (kind_status[kind] < 0)
            kind_status[kind] = token_status (grammar, state, t);
          status = kind_status[kind];
        }
      else
        status = token_status (grammar, state, t);
      mask[t] = status == STATUS_OK;
      n += mask[t];
    }
  return n;
}

gboolean
derl_formula_grammar_push (const DerlFormulaGrammar *grammar, DerlFormulaGrammarState *state, guint token,
                           GError **error)
{
  g_return_val_if_fail (grammar != NULL && state != NULL, FALSE);
  Status status = token_status (grammar, state, token);
  const char *text = token < grammar->n_vocab ? grammar->texts[token] : "?";

  switch (status)
    {
    case STATUS_OK:
      apply (grammar, state, token);
      return TRUE;
    case STATUS_SYNTAX:
      if (token >= grammar->n_vocab)
        g_set_error (error, DERL_FORMULA_ERROR, DERL_FORMULA_ERROR_SYNTAX,
                     "token %u is not in the vocabulary of %u tokens", token, grammar->n_vocab);
      else if (state->finished)
        g_set_error (error, DERL_FORMULA_ERROR, DERL_FORMULA_ERROR_SYNTAX,
                     "token '%s' after END: the formula has ended", text);
      else if (state->expect_operand && token == DERL_FORMULA_TOKEN_SUB)
        g_set_error (error, DERL_FORMULA_ERROR, DERL_FORMULA_ERROR_SYNTAX,
                     "token '-' at position %u cannot follow a unary minus", state->n_tokens + 1);
      else if (!state->expect_operand && token == DERL_FORMULA_TOKEN_CLOSE)
        g_set_error (error, DERL_FORMULA_ERROR, DERL_FORMULA_ERROR_SYNTAX,
                     "token ')' at position %u has no '(' to close", state->n_tokens + 1);
      else if (!state->expect_operand && token == DERL_FORMULA_TOKEN_END)
        g_set_error (error, DERL_FORMULA_ERROR, DERL_FORMULA_ERROR_SYNTAX,
                     "token END at position %u: %u parentheses are open", state->n_tokens + 1, state->depth);
      else
        g_set_error (error, DERL_FORMULA_ERROR, DERL_FORMULA_ERROR_SYNTAX,
                     "token '%s' at position %u: expected %s", text, state->n_tokens + 1,
                     state->expect_operand ? "a primitive, a constant, '(' or '-'"
                     : state->depth ? "an operator or ')'" : "an operator or END");
      return FALSE;
    case STATUS_ZERO:
      {
        double v[2];
        frame_fold (&state->frames[state->depth], v);
        g_set_error (error, DERL_FORMULA_ERROR, DERL_FORMULA_ERROR_NOT_FINITE,
                     "token ')' at position %u would close a divisor that is zero at probe point %u",
                     state->n_tokens + 1, v[0] == 0 ? 1 : 2);
        return FALSE;
      }
    case STATUS_NO_VAR:
      g_set_error (error, DERL_FORMULA_ERROR, DERL_FORMULA_ERROR_NO_PRIMITIVE,
                   "token END at position %u: the formula names no primitive yet", state->n_tokens + 1);
      return FALSE;
    default:
      g_set_error (error, DERL_FORMULA_ERROR, DERL_FORMULA_ERROR_LIMIT,
                   "token '%s' at position %u leaves no valid formula within the budget of %u tokens", text,
                   state->n_tokens + 1, state->max_tokens);
      return FALSE;
    }
}

DerlFormula *
derl_formula_grammar_build (const DerlFormulaGrammar *grammar, const guint *tokens, guint n_tokens, GError **error)
{
  g_return_val_if_fail (grammar != NULL && (tokens != NULL || n_tokens == 0), NULL);
  g_autoptr (GString) text = g_string_new (NULL);

  if (n_tokens > 0 && tokens[n_tokens - 1] == DERL_FORMULA_TOKEN_END)
    n_tokens--;
  for (guint i = 0; i < n_tokens; i++)
    {
      if (tokens[i] == DERL_FORMULA_TOKEN_END)
        {
          g_set_error (error, DERL_FORMULA_ERROR, DERL_FORMULA_ERROR_SYNTAX,
                       "token END at position %u is not the last", i + 1);
          return NULL;
        }
      if (tokens[i] >= grammar->n_vocab)
        {
          g_set_error (error, DERL_FORMULA_ERROR, DERL_FORMULA_ERROR_SYNTAX,
                       "token %u at position %u is not in the vocabulary of %u tokens", tokens[i], i + 1,
                       grammar->n_vocab);
          return NULL;
        }
      if (i)
        g_string_append_c (text, ' ');
      g_string_append (text, grammar->texts[tokens[i]]);
    }
  return derl_formula_parse (text->str, text->len, grammar->n_vars, NULL, error);
}
