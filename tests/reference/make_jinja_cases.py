"""Writes tests/fixtures/jinja/cases.json: Jinja constructs rendered by jinja2 exactly as transformers
configures it (utils/chat_template_utils.py: ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks,
loopcontrols, its tojson / raise_exception / namespace), for tests/tokenizer/test_jinja.cpp. The expected
outputs are jinja2's, never loratune's.

    scripts/refpy tests/reference/make_jinja_cases.py      # rewrites the fixture
    scripts/refpy tests/reference/make_jinja_cases.py --check   # fails when the fixture is stale
"""
import json
import os
import sys

from transformers.utils.chat_template_utils import _compile_jinja_template

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "jinja", "cases.json")

CTX = {"x": [1, 2, 3], "d": {"a": 1, "b": [1, "x"], "c": None}, "s": " Hi there\n", "n": None, "t": True,
       "f": 1.5, "i": 7, "msgs": [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "yo"}],
       "u": "héllo wörld ünï", "e": "", "l": [], "names": ["bob", "Alice", "carol", "alice"]}
CASES = [
 ('whitespace control', "a  \n  {% if t %}\n  yes\n  {% endif %}\n  b"),
 ('whitespace control', "a  {%- if t -%}  yes  {%- endif -%}  b"),
 ('whitespace control', "a\n  {%+ if t %}x{% endif %}\n"),
 ('whitespace control', "a\n  {% if t +%}\nx{% endif %}\n"),
 ('whitespace control', "  {{ 1 }}  \n  {# c #}\n  z"),
 ('whitespace control', "x {#- comment -#} y"),
 ('whitespace control', "line1\n    {% for i in x %}\n    {{ i }}\n    {% endfor %}\nend\n"),
 ('whitespace control', "{% for i in x %}{{ i }}{% endfor %}\n\n"),
 ('whitespace control', "a\r\nb\r\n{% if t %}\r\nc{% endif %}"),
 ('whitespace control', "{% raw %}{{ not }} {% if %}{% endraw %}|"),
 ('whitespace control', "  {%- raw -%}  x  {%- endraw -%}  |"),
 ('whitespace control', "{{- ' a ' -}}   {{ 'b' }}"),
 ('whitespace control', "a\n{#- x #}\nb"),
 ('whitespace control', "\t{% if t %}\tq{% endif %}"),
 ('whitespace control', "x\n  \t{% set y = 1 %}\n{{ y }}"),
 ('whitespace control', "{{ {'a': {'b': 1}} }}"),
 ('literals and printing', "{{ 1 }} {{ 1.0 }} {{ 1e3 }} {{ 0.1 + 0.2 }} {{ 1/3 }} {{ 10/2 }} {{ 2**10 }} {{ 2**-2 }} {{ 1_000 }}"),
 ('literals and printing', "{{ true }} {{ False }} {{ none }} {{ None }} {{ [1, 'a', none, true, 1.5] }} {{ (1, 'b') }} {{ (1,) }} {{ () }}"),
 ('literals and printing', "{{ {'k': 'v', 'n': [1, {'z': none}]} }} {{ d }}"),
 ('literals and printing', "{{ 'it\\'s' }} {{ \"say \\\"hi\\\"\" }} {{ 'tab\\there' }} {{ 'nl\\nx' }} {{ '\\u00e9\\x41' }} {{ 'a' 'b' }}"),
 ('literals and printing', "{{ [\"it's\", 'say \"x\"', 'both \\' \"', 'nl\\n', 'é'] }}"),
 ('literals and printing', "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 3 * 'ab' }} {{ [1] * 3 }}"),
 ('literals and printing', "{{ 1e20 }} {{ 1e16 }} {{ 1e15 }} {{ 1.5e-5 }} {{ 0.0001 }} {{ 123456789.123 }} {{ -0.0 }} {{ 2.5e-10 }}"),
 ('literals and printing', "{{ 'a' ~ 1 ~ none ~ [1] ~ undefined_thing }} {{ 1 + 2 * 3 - 4 }} {{ (1 + 2) * 3 }} {{ -2 ** 2 }} {{ 2 ** 3 ** 2 }}"),
 ('literals and printing', "{{ 1 < 2 < 3 }} {{ 1 < 3 < 2 }} {{ 1 == 1.0 }} {{ 'a' != 'b' }} {{ [1,2] == [1,2] }} {{ 'abc' < 'abd' }} {{ true == 1 }}"),
 ('literals and printing', "{{ 'a' in 'cat' }} {{ 2 in x }} {{ 'a' in d }} {{ 'z' not in d }} {{ 5 not in x }}"),
 ('literals and printing', "{{ t and 'yes' }} {{ n or 'dflt' }} {{ 0 or '' }} {{ 'a' and 0 }} {{ not n }} {{ not x }}"),
 ('literals and printing', "{{ 'y' if t else 'n' }} {{ 'y' if n else 'n' }} [{{ 'y' if n }}] {{ 1 if false else 2 if false else 3 }}"),
 ('attribute / item lookup', "{{ d.a }} {{ d['a'] }} {{ d.b[1] }} {{ d.b.0 }} [{{ d.missing }}] [{{ d['missing'] }}] {{ x[-1] }} [{{ x[10] }}]"),
 ('attribute / item lookup', "{{ msgs[0].role }} {{ msgs[0]['content'] }} {{ msgs[-1].content }} {{ msgs|length }}"),
 ('attribute / item lookup', "{{ x[1:] }} {{ x[:-1] }} {{ x[::-1] }} {{ x[::2] }} {{ s[1:3] }} {{ u[1:4] }} {{ u[-3:] }} {{ u[::-1] }} {{ x[5:] }}"),
 ('attribute / item lookup', "{{ u[1] }} {{ u|length }} {{ s|length }} {{ d|length }} {{ x|count }}"),
 ('attribute / item lookup', "[{{ undefined_var }}] {{ undefined_var is defined }} {{ d.c is none }} {{ d.c is defined }}"),
 ('tests', "{{ x is iterable }} {{ d is mapping }} {{ x is sequence }} {{ 's' is string }} {{ 1 is number }} {{ 1.0 is float }} {{ 1 is integer }} {{ true is integer }} {{ true is number }}"),
 ('tests', "{{ true is boolean }} {{ 1 is boolean }} {{ t is true }} {{ 1 is true }} {{ false is false }} {{ none is none }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }}"),
 ('tests', "{{ 1 is eq 1 }} {{ 1 is ne 2 }} {{ 1 is lt 2 }} {{ 2 is le 2 }} {{ 3 is gt 2 }} {{ 1 is ge 2 }} {{ 2 is in x }} {{ 'abc' is lower }} {{ 'ABC' is upper }} {{ d is not mapping }}"),
 ('tests', "{{ undefined_var is undefined }} {{ undefined_var is iterable }} {{ undefined_var is sequence }} {{ d.items is callable }} {{ x is string }} {{ n is mapping }}"),
 ('tests', "{{ 1.5 is number }} {{ x is sameas x }} {{ 'upper' is filter }} {{ 'odd' is test }} {{ 'nope' is filter }}"),
 ('filters', "{{ s|trim }}|{{ s|trim('\\n') }}|{{ '  a b  '|trim }}|{{ 'xxaxx'|trim('x') }}"),
 ('filters', "{{ 'hello WORLD'|lower }} {{ 'hello'|upper }} {{ 'hello world-foo (bar) [baz]'|title }} {{ 'hELLO wORLD'|capitalize }}"),
 ('filters', "[{{ undefined_var|default('dflt') }}] [{{ n|default('dflt') }}] [{{ ''|default('dflt', true) }}] [{{ ''|d('dflt') }}] [{{ undefined_var|d }}] [{{ 0|default(5, boolean=true) }}]"),
 ('filters', "{{ x|join(', ') }} {{ names|join }} {{ msgs|join('|', attribute='role') }} {{ 'abc'|join('-') }} {{ d|join(',') }}"),
 ('filters', "{{ x|first }} {{ x|last }} {{ 'abc'|first }} {{ 'abc'|last }} [{{ l|first }}] {{ d|first }}"),
 ('filters', "{{ d|items|list }} {{ d.items()|list }} {{ d.keys()|list }} {{ d.values()|list }} {{ 'ab'|list }} {{ d|list }}"),
 ('filters', "{{ 'a-b-c'|replace('-', '+') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ 1|string }} {{ [1,'a']|string }} {{ n|string }}"),
 ('filters', "{{ '42'|int }} {{ ' 7 '|int }} {{ '4.7'|int }} {{ 'x'|int }} {{ 'x'|int(9) }} {{ 3.9|int }} {{ '0x1A'|int(0, 16) }} {{ '3.5'|float }} {{ 'x'|float }} {{ 2|float }}"),
 ('filters', "{{ -3|abs }} {{ -2.5|abs }} {{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 2.1|round(0, 'ceil') }} {{ 2.9|round(method='floor') }} {{ 5|round }} {{ 0.125|round(2) }}"),
 ('filters', "{{ x|reverse|list }} {{ 'abc'|reverse }} {{ names|sort }} {{ names|sort(case_sensitive=true) }} {{ names|sort(reverse=true) }} {{ [3,1,2]|sort }}"),
 ('filters', "{{ names|unique|list }} {{ [1,2,1,3,2]|unique|list }} {{ msgs|map(attribute='role')|list }} {{ x|map('string')|join('') }} {{ [' a ', 'b ']|map('trim')|list }}"),
 ('filters', "{{ x|select('odd')|list }} {{ x|reject('odd')|list }} {{ msgs|selectattr('role', 'equalto', 'user')|list }} {{ msgs|rejectattr('role', 'eq', 'user')|map(attribute='content')|list }} {{ [0, 1, '', 'a']|select|list }}"),
 ('filters', "{{ x|sum }} {{ [1.5, 2]|sum }} {{ msgs|map(attribute='content')|sum(start='') if false else 1 }} {{ x|min }} {{ x|max }} {{ names|max }} {{ names|min }} [{{ l|max }}]"),
 ('filters', "{{ {'b': 1, 'A': 2, 'a': 3}|dictsort }} {{ {'b': 1, 'a': 3}|dictsort(by='value', reverse=true) }}"),
 ('filters', "{{ 'line1\\nline2\\n\\nline4'|indent }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(2, blank=true) }}|{{ 'a\\nb'|indent('>') }}"),
 ('filters', "[{{ 'abc'|center(9) }}] [{{ 'ab'|center(7) }}] {{ 'one two  three'|wordcount }} {{ '<a href=\"x\">&</a>'|e }} {{ '<b>'|safe }} {{ x|batch(2)|list }} {{ x|batch(2, 0)|list }}"),
 ('filters', "{{ 0|select('odd')|list }} {{ false|map('string')|list }} {{ none|selectattr('a')|list }} [{{ missing is callable }}] {{ not[] }}"),
 ('formatting', "{{ '%s-%d-%5.2f|%-4s|%04d|%x|%#X|%o|%e|%g|%r|%c|%%|%+d|% d|%.3s|%10.4f' % ('a', 7, 3.14159, 'b', 42, 255, 255, 8, 12345.678, 0.0001, 'q', 65, 5, 5, 'abcdef', 2.5) }}"),
 ('formatting', "{{ '%(a)s and %(b)05.1f'|format(a='x', b=2.25) }} {{ '%s'|format([1, 'a']) }} {{ '%s=%s' % ('k', none) }} {{ '%d' % 3.9 }} {{ '%s' % 1.0 }} {{ '%s' % 'é' }} {{ '[%5s]' % 'é' }} {{ '%-6d|' % -3 }} {{ '%x' % -255 }}"),
 ('filters', "{{ 'hello world and more words here'|truncate(12) }}|{{ 'hello world and more'|truncate(9, true) }}|{{ 'short'|truncate(3, end='') }}|{{ 'abcdefgh ij'|truncate(5, leeway=0) }}|{{ 'a b c d e f g'|truncate(8, false, '!', 0) }}"),
 ('formatting', "{{ '{} {} {!r} {:>6}|{:<4}|{:^7}|{:*^9}|{:05d}|{:+d}|{:,}|{:.2f}|{:e}|{:x}|{:#x}|{:b}|{:%}|{:.3}|{:g}|{}|{:10.3f}|{:=+8d}|{:.1%}'.format('a', 1, 'q', 'r', 'l', 'c', 'f', 42, 5, 1234567, 3.14159, 12345.678, 255, 255, 5, 0.25, 1234.5, 0.00001, 2.5, -1.5, 42, 0.125) }}"),
 ('formatting', "{{ '{0}{1}{0}|{name}|{d[a]}|{d.b[1]}|{m.role}'.format('x', 'y', name='N', d={'a': 1, 'b': [1, 2]}, m={'role': 'user'}) }} {{ '{{}} {:.3}'.format('abcdef') }} {{ '{}'.format(none) }} {{ '{}'.format(true) }} {{ '{:d}'.format(true) }} {{ '{:>5}'.format(true) }} {{ '{}'.format([1, 'a']) }} {{ '{:.0f}'.format(2.5) }} {{ '{:.1}'.format(0.05) }} {{ '{:}'.format(1e20) }} {{ '{:.3}'.format(1.0) }} {{ '{:,.2f}'.format(1234567.891) }} {{ '{:>8}'.format('é') }} {{ '{:08.3f}'.format(-3.14159) }} {{ '{:.2e}'.format(0) }}"),
 ('filters', "{{ d|tojson }} {{ u|tojson }} {{ 'a\"b\\\\c\\n\\t'|tojson }} {{ x|tojson(indent=2) }} {{ d|tojson(indent=2) }} {{ l|tojson }} {{ {}|tojson(indent=2) }}"),
 ('filters', "{{ msgs|tojson(indent=4) }} {{ {'b': 1, 'a': [1.0, 2.5, none, true]}|tojson(sort_keys=true) }} {{ d|tojson(separators=(',', ':')) }} {{ d|tojson(separators=('', '')) }} {{ d|tojson(indent=2, separators=(';', '=')) }} {{ 'é'|tojson(ensure_ascii=true) }} {{ '😀'|tojson(true) }}"),
 ('filters', "{{ '\\x01\\x7f'|tojson }} {{ 1e20|tojson }} {{ 3.0|tojson }} {{ (1, 2)|tojson }} {{ {1: 2}|tojson }}"),
 ('filters', "{{ d|attr('a') }}|{{ x|length }}|{{ undefined_var|length }}|{{ undefined_var|list }}|{{ undefined_var|trim }}|"),
 ('string methods', "{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ 'xxhixx'.strip('x') }}|{{ s.split() }}|{{ 'a,b,,c'.split(',') }}|{{ 'a b c'.split(' ', 1) }}|{{ 'a b c'.rsplit(' ', 1) }}"),
 ('string methods', "{{ s.startswith(' Hi') }} {{ s.endswith('\\n') }} {{ 'abc'.startswith(('x', 'a')) }} {{ 'Hello'.lower() }} {{ 'hello world'.title() }} {{ 'hello'.upper() }} {{ 'hELLO'.capitalize() }}"),
 ('string methods', "{{ 'hello'.find('l') }} {{ 'hello'.rfind('l') }} {{ 'hello'.find('z') }} {{ 'hello'.count('l') }} {{ ', '.join(['a', 'b']) }} {{ 'a-b'.replace('-', '') }} {{ u.find('w') }}"),
 ('string methods', "{{ '<think>x</think>rest'.split('</think>')[-1].lstrip('\\n') }} {{ 'a\\nb\\r\\nc'.splitlines() }} {{ '123'.isdigit() }} {{ 'ab1'.isalpha() }} {{ '  '.isspace() }}"),
 ('string methods', "{{ u.upper() }} {{ u.title() }} {{ 'x'.removeprefix('x') }}|{{ 'abc'.removesuffix('c') }}"),
 ('dict / list methods', "{{ d.get('a') }} {{ d.get('zz') }} {{ d.get('zz', 5) }} {{ x.count(2) }} {{ x.index(3) }}"),
 ('dict / list methods', "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}"),
 ('dict / list methods', "{% for k in d %}{{ k }}{% endfor %} {% for c in 'héllo' %}[{{ c }}]{% endfor %}"),
 ('loops', "{% for i in x %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.revindex0 }}/{{ loop.first }}/{{ loop.last }}/{{ loop.length }} {% endfor %}"),
 ('loops', "{% for i in x %}[{{ loop.previtem }}|{{ loop.nextitem }}|{{ loop.cycle('a', 'b') }}]{% endfor %}"),
 ('loops', "{% for i in l %}{{ i }}{% else %}empty{% endfor %} {% for i in x if i > 1 %}{{ i }}:{{ loop.index }},{% endfor %}"),
 ('loops', "{% for i in x %}{% if i == 2 %}{% continue %}{% endif %}{{ i }}{% endfor %} {% for i in x %}{% if i == 2 %}{% break %}{% endif %}{{ i }}{% endfor %}"),
 ('loops', "{% for a, b in [(1, 2), (3, 4)] %}{{ a + b }},{% endfor %} {% for m in msgs %}{% for k, v in m|dictsort %}{{ k }}:{{ v }} {% endfor %}{% endfor %}"),
 ('loops', "{% for i in x %}{% for j in x %}{{ loop.index }}{% endfor %}{{ loop.index }}|{% endfor %}"),
 ('loops', "{% for i in range(3) %}{{ i }}{% endfor %} {{ range(1, 10, 3)|list }} {{ range(5, 0, -2)|list }}"),
 ('loops', "{% for i in x %}{% continue %}{% else %}E{% endfor %}|{% for i in x %}{% break %}{% else %}E{% endfor %}|{% for i in x %}{% if i < 3 %}{% continue %}{% endif %}{% else %}E{% endfor %}"),
 ('loops', "{% for i in x %}{{ loop.changed(i > 1) }}{% endfor %} {% for i in l %}{% else %}{{ i is defined }}{% endfor %}"),
 ('loops', "{% for i in x %}{% set y = i %}{% endfor %}[{{ y }}] {% set z = 5 %}{% for i in x %}{% set z = i %}{{ z }}{% endfor %}{{ z }}"),
 ('set / namespace / macro', "{% set a = 1 %}{% set b, c = 2, 3 %}{{ a }}{{ b }}{{ c }} {% set t2 = 1, 2 %}{{ t2 }}"),
 ('set / namespace / macro', "{% set blk %}  inside {{ 1 + 1 }}\n{% endset %}[{{ blk }}] {% set up | upper %}abc{% endset %}{{ up }}"),
 ('set / namespace / macro', "{% set ns = namespace(found=false, n=0) %}{% for i in x %}{% if i > 1 %}{% set ns.found = true %}{% set ns.n = ns.n + i %}{% endif %}{% endfor %}{{ ns.found }} {{ ns.n }} {% set ns.new = 'v' %}{{ ns.new }}"),
 ('set / namespace / macro', "{% macro m(a, b=2, c='x') %}[{{ a }}-{{ b }}-{{ c }}]{% endmacro %}{{ m(1) }}{{ m(1, 3) }}{{ m(1, c='z') }}{{ m() }}"),
 ('set / namespace / macro', "{% macro outer(v) %}{% if v > 0 %}{{ v }}{{ outer(v - 1) }}{% endif %}{% endmacro %}{{ outer(3) }}"),
 ('set / namespace / macro', "{% macro render(m) -%}\n<{{ m.role }}>{{ m.content | trim }}\n{%- endmacro %}{% for m in msgs %}{{ render(m) }}{% endfor %}"),
 ('set / namespace / macro', "{% macro box(t) %}[{{ t }}:{{ caller() }}]{% endmacro %}{% call box('x') %}inner {{ 1 + 1 }}{% endcall %} {% macro each(xs) %}{% for x in xs %}{{ caller(x, loop.index) }},{% endfor %}{% endmacro %}{% call(item, i) each([5, 6]) %}{{ i }}={{ item }}{% endcall %} {% macro m() %}{{ caller is defined }}{% endmacro %}{{ m() }}"),
 ('set / namespace / macro', "{% with q = 5 %}{{ q }}{% endwith %}[{{ q }}] {% filter upper %}abc {{ 'd' }}{% endfilter %} {% print 'p' %}"),
 ('set / namespace / macro', "{{ dict(a=1, b=2) }} {{ namespace(a=1).a }} {{ dict(a=1)|tojson }}"),
 ('generation', "{% for m in msgs %}<{{ m.role }}>{% if m.role == 'assistant' %}{% generation %}{{ m.content }}</s>{% endgeneration %}{% else %}{{ m.content }}{% endif %}\n{% endfor %}"),
 ('unicode, escapes, misc', "{% set w = 'straße ﬁne İstanbul ŉ ΟΔΟΣ ΣΑΣ. ǅemal' %}{{ w.upper() }}|{{ w.lower() }}|{{ w.title() }}|{{ w.capitalize() }}|{{ w.swapcase() }}|{{ w|upper }}|{{ w|title }}|{{ w|capitalize }}|{{ ['ß', 'SS', 'Straße', 'strasse']|sort }}"),
 ('unicode, escapes, misc', "é {{ 'ü' }} 😀 {{ u|upper }} {{ u|capitalize }}"),
 ('unicode, escapes, misc', "{{ '%s' }} {{ '{' }}{{ '}' }} {{ \"{{\" }}"),
 ('unicode, escapes, misc', "{{ 10 / 4 }} {{ 10 // 4 }} {{ 2 * 1.5 }} {{ 1 - 0.9 }} {{ 100000000000000000000.0 }} {{ 9007199254740993 }}"),
 ('unicode, escapes, misc', "{{ f }} {{ i }} {{ f * i }} {{ i / 7 }} {{ i // 7 }} {{ -i }} {{ +f }} {{ -f|abs }}"),
 ('unicode, escapes, misc', "{{ x + [4] }} {{ (1, 2) + (3,) }} {{ 'ab' * 0 }}|{{ x * 0 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }}"),
 ('unicode, escapes, misc', "{% if x %}a{% elif d %}b{% else %}c{% endif %}{% if l %}a{% elif e %}b{% else %}c{% endif %}{% if l %}a{% elif d %}b{% endif %}"),
 ('unicode, escapes, misc', "{% if not t is defined %}x{% else %}y{% endif %} {% if t is not none and x|length > 2 %}z{% endif %}"),
 ('unicode, escapes, misc', "{{ messages is defined }} {{ tools }} {{ add_generation_prompt }}"),
 ('unicode, escapes, misc', "{{ x | map('string') | map('upper') | list }} {{ msgs | selectattr('role') | list | length }}"),
 ('unicode, escapes, misc', "{{ 'abc'[0] }}{{ 'abc'[-1] }}[{{ 'abc'[5] }}] {{ msgs[0] }} {{ msgs[0].keys()|list }}"),
 ('unicode, escapes, misc', "{%- for m in msgs -%}\n{{- m.role -}}\n{%- endfor -%}"),
 ('unicode, escapes, misc', "{% for m in msgs %}{{ m['role']|capitalize }}: {{ m['content'] }}{% if not loop.last %}\n{% endif %}{% endfor %}"),
 ('unicode, escapes, misc', "{% set content = '' %}{% if msgs[0].content is string %}{% set content = msgs[0].content %}{% endif %}{{ content }}"),
 ('unicode, escapes, misc', "{{ 'x'|replace('x', '\\\\') }} {{ '\\\\n' }} {{ '\\q' }}"),
]
ERR_CASES = [
 "{{ undefined_var.foo }}", "{{ raise_exception('bad ' ~ 1) }}", "{{ x.append(4) }}", "{{ d.update({}) }}",
 "{{ 1 + 'a' }}", "{{ 1 / 0 }}", "{% include 'x.jinja' %}", "{% for i in x %}", "{{ 1 +  }}", "{{ x|nofilter }}",
 "{{ 'a' < 1 }}", "{% set a, b = x %}", "{{ n.foo.bar }}", "{% extends 'b' %}", "{% break %}", "{{ x is nosuchtest }}",
 "{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}", "{{ d|tojson(indent=2) }}{{ undefined_var|tojson }}",
 "{% if %}x{% endif %}", "{{ 'abc }}", "{% endfor %}", "{# unclosed", "{{ n + 1 }}", "{{ ns.x }}{% set ns.x = 1 %}",
 "{{ none|length }}", "{{ '%d' % 'x' }}", "{{ '%s %s' % ('a',) }}", "{{ '%s' % ('a', 'b') }}", "{{ '%q' % 1 }}", "{{ '{}'.format() }}", "{{ '{0}{}'.format(1, 2) }}", "{{ '{:d}'.format('x') }}", "{{ '{'.format(1) }}", "{{ '{x}'.format(y=1) }}", "{{ 5|items }}", "{{ 'a,b'.split('') }}", "{% for i in 5 %}{% endfor %}",
]


def render(src):
    try:
        return {"expected": _compile_jinja_template(src).render(**CTX)}
    except Exception as e:  # the C++ test only checks that loratune fails too
        return {"error": f"{type(e).__name__}: {e}"}


def main():
    cases = [dict(group=g, template=t, **render(t)) for g, t in CASES]
    errors = [dict(group="errors", template=t, **render(t)) for t in ERR_CASES]
    for e in errors:
        if "expected" in e and not e["expected"].startswith("<generator"):
            sys.exit(f"error case renders in jinja2: {e['template']!r}")
    errors = [e for e in errors if "error" in e]
    for c in cases:
        if "error" in c:
            sys.exit(f"case fails in jinja2: {c['template']!r}: {c['error']}")
    text = json.dumps({"context": CTX, "cases": cases, "errors": errors}, ensure_ascii=False, indent=1) + "\n"
    if "--check" in sys.argv:
        same = os.path.exists(OUT) and open(OUT, encoding="utf-8").read() == text
        print("fixture up to date" if same else "fixture stale: rerun without --check")
        return 0 if same else 1
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {len(cases)} cases and {len(errors)} error cases to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
