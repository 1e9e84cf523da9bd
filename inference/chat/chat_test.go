package chat

import (
	"errors"
	"strings"
	"testing"

	"github.com/ipfs-accelerate/accel/inference/tokenizer"
)

var (
	withSystem = []Message{
		{"system", "You are helpful."},
		{"user", "Hello"},
		{"assistant", "Hi there"},
		{"user", "How are you?"},
	}
	noSystem = withSystem[1:]
)

// TestFamilies renders a conversation with each built-in template and
// compares it with the family's documented prompt format (the leading BOS
// left out: the tokenizer adds it).
func TestFamilies(t *testing.T) {
	for _, c := range []struct {
		family   Family
		bos, eos string
		msgs     []Message
		want     string
	}{
		{ChatML, "<s>", "</s>", withSystem, "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n" +
			"<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nHow are you?<|im_end|>\n<|im_start|>assistant\n"},
		{Llama2, "<s>", "</s>", withSystem, "[INST] <<SYS>>\nYou are helpful.\n<</SYS>>\n\nHello [/INST] Hi there </s><s>[INST] How are you? [/INST]"},
		{Llama3, "<|begin_of_text|>", "<|end_of_text|>", withSystem, "<|start_header_id|>system<|end_header_id|>\n\nYou are helpful.<|eot_id|>" +
			"<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|>" +
			"<|start_header_id|>user<|end_header_id|>\n\nHow are you?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
		{Mistral, "<s>", "</s>", noSystem, "[INST] Hello [/INST]Hi there</s>[INST] How are you? [/INST]"},
		{Phi3, "<s>", "<|endoftext|>", withSystem, "<|system|>\nYou are helpful.<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\nHi there<|end|>\n" +
			"<|user|>\nHow are you?<|end|>\n<|assistant|>\n"},
		{Gemma, "<bos>", "<eos>", noSystem, "<start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\nHi there<end_of_turn>\n" +
			"<start_of_turn>user\nHow are you?<end_of_turn>\n<start_of_turn>model\n"},
		{Plain, "<s>", "</s>", withSystem, "You are helpful.\nHello\nHi there\nHow are you?"},
	} {
		t.Run(string(c.family), func(t *testing.T) {
			tpl, err := builtinTemplate(c.family, c.bos, c.eos)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tpl.Render(c.msgs)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("got  %q\nwant %q", got, c.want)
			}
			if f, ok := detect(builtin[c.family].source); c.family != Plain && (!ok || f != c.family) {
				t.Fatalf("detect(its own template) = %q, %v", f, ok)
			}
		})
	}
}

// TestRaiseException checks that a template's raise_exception fails the
// rendering with its message, as an ErrTemplate.
func TestRaiseException(t *testing.T) {
	for _, c := range []struct {
		family Family
		msgs   []Message
		want   string
	}{
		{Gemma, withSystem, "System role not supported"},
		{Llama2, []Message{{"user", "a"}, {"user", "b"}}, "Conversation roles must alternate"},
		{Mistral, []Message{{"tool", "a"}}, "Conversation roles must alternate"},
	} {
		tpl, err := builtinTemplate(c.family, "<s>", "</s>")
		if err != nil {
			t.Fatal(err)
		}
		_, err = tpl.Render(c.msgs)
		if !errors.Is(err, ErrTemplate) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want an ErrTemplate saying %q", c.family, err, c.want)
		}
	}
}

// vocab is a SentencePiece vocabulary of the given pieces, the first three
// <unk>, <s>, </s>, and the rest control tokens.
func vocab(t *testing.T, special ...string) *tokenizer.Tokenizer {
	t.Helper()
	pieces := append([]string{"<unk>", "<s>", "</s>", "▁"}, special...)
	types := make([]int32, len(pieces))
	for i := range types {
		types[i] = tokenizer.TypeControl
	}
	types[0], types[3] = tokenizer.TypeUnknown, tokenizer.TypeNormal
	tok, err := tokenizer.NewSentencePiece(pieces, make([]float32, len(pieces)), types, 1, 2, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestModelTemplate renders a model's own template, written the way Hugging
// Face models write theirs: whitespace control, loops, namespace, string
// methods and filters, bos_token.
func TestModelTemplate(t *testing.T) {
	source := `{{ bos_token }}{%- set ns = namespace(system='') -%}
{%- for message in messages -%}
    {%- if message['role'] == 'system' -%}{%- set ns.system = message['content'].strip() -%}{%- endif -%}
{%- endfor -%}
{%- if ns.system %}<<{{ ns.system | upper }}>>
{% endif %}
{%- for message in messages if message.role != 'system' %}
{{ message.role }}: {{ message.content | trim }}{{ eos_token if message.role == 'assistant' }}
{% endfor %}
{%- if add_generation_prompt %}assistant:{% endif %}`
	tpl, err := New(source, vocab(t))
	if err != nil {
		t.Fatal(err)
	}
	if tpl.Family != "" {
		t.Fatalf("family %q, want the model's own template", tpl.Family)
	}
	got, err := tpl.Render([]Message{{"system", " Be brief. "}, {"user", " Hi "}, {"assistant", "Hello"}, {"user", "Why?"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "<<BE BRIEF.>>\nuser: Hi\nassistant: Hello</s>\nuser: Why?\nassistant:"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

// TestFallbacks checks the family a model gets without a template it can
// run: from its template's markers, from its vocabulary, else plain.
func TestFallbacks(t *testing.T) {
	for _, c := range []struct {
		name   string
		source string
		tok    *tokenizer.Tokenizer
		want   Family
		stop   []string
	}{
		{"unparsable Gemma template", `{% for m in messages %}<start_of_turn>{{ m.content }`, vocab(t), Gemma, []string{"<end_of_turn>"}},
		{"unparsable unknown template", `{% for %}`, vocab(t), ChatML, []string{"<|im_end|>"}},
		{"ChatML vocabulary", "", vocab(t, "<|im_start|>", "<|im_end|>"), ChatML, []string{"<|im_end|>"}},
		{"Llama 3 vocabulary", "", vocab(t, "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"), Llama3, []string{"<|eot_id|>"}},
		{"Gemma vocabulary", "", vocab(t, "<start_of_turn>", "<end_of_turn>"), Gemma, []string{"<end_of_turn>"}},
		{"base model", "", vocab(t), Plain, nil},
	} {
		tpl, err := New(c.source, c.tok)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if tpl.Family != c.want || strings.Join(tpl.Stop, " ") != strings.Join(c.stop, " ") {
			t.Errorf("%s: family %q, stop %q; want %q, %q", c.name, tpl.Family, tpl.Stop, c.want, c.stop)
		}
	}
}

// TestNoFiles checks that a model's template cannot read files: the
// template fails, or falls back to a built-in one.
func TestNoFiles(t *testing.T) {
	for _, source := range []string{`{% include '/etc/passwd' %}`, `{% extends '/etc/passwd' %}`, `{% import '/etc/passwd' as x %}`} {
		tpl, err := New(source, vocab(t))
		if err != nil {
			t.Fatal(err)
		}
		if out, err := tpl.Render(noSystem); err == nil && tpl.Family == "" {
			t.Errorf("%s rendered %q", source, out)
		}
	}
}
