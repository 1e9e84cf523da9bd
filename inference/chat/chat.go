// Package chat turns a conversation into a model's prompt with the Jinja
// chat template the model carries (GGUF tokenizer.chat_template), rendered
// by a Jinja engine. A model without a template, or with one the engine
// cannot run, gets the built-in template of the family llama.cpp would
// detect — ChatML, Llama 2, Llama 3, Mistral, Phi-3, Gemma — from the
// markers in its template text or, with no template, from the special
// tokens of its vocabulary. A model with neither is a base model: its
// prompt is the messages' contents, one per line, which it continues.
package chat

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/nikolalohinski/gonja/v2"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"

	"github.com/ipfs-accelerate/accel/inference/tokenizer"
)

// Message is one turn of a conversation.
type Message struct {
	Role    string // "system", "user", "assistant", …
	Content string
}

// Family is a chat format with a built-in template.
type Family string

// The families, named as llama.cpp names them; Plain is the base models'.
const (
	ChatML  Family = "chatml"
	Llama2  Family = "llama2"
	Llama3  Family = "llama3"
	Mistral Family = "mistral"
	Phi3    Family = "phi3"
	Gemma   Family = "gemma"
	Plain   Family = "plain"
)

// builtin holds each family's template as its models publish it, and the
// texts that end a turn in it (stop sequences beside the end-of-generation
// tokens, for vocabularies that hold them as plain text).
var builtin = map[Family]struct {
	source string
	stop   []string
}{
	ChatML: {`{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}` +
		`{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}`, []string{"<|im_end|>"}},
	Llama2: {`{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}` +
		`{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}` +
		`{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}` +
		`{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}` +
		`{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}` +
		`{% else %}{% set content = message['content'] %}{% endif %}` +
		`{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}` +
		`{% elif message['role'] == 'assistant' %}{{ ' ' + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}`, []string{"[INST]"}},
	Llama3: {`{% set loop_messages = messages %}{% for message in loop_messages %}` +
		`{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' %}` +
		`{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}` +
		`{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}`, []string{"<|eot_id|>"}},
	Mistral: {`{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}` +
		`{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}` +
		`{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}` +
		`{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}` +
		`{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}`, []string{"[INST]"}},
	Phi3: {`{% for message in messages %}{% if message['role'] == 'system' %}{{ '<|system|>\n' + message['content'] + '<|end|>\n' }}` +
		`{% elif message['role'] == 'user' %}{{ '<|user|>\n' + message['content'] + '<|end|>\n' }}` +
		`{% elif message['role'] == 'assistant' %}{{ '<|assistant|>\n' + message['content'] + '<|end|>\n' }}{% endif %}{% endfor %}` +
		`{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}`, []string{"<|end|>"}},
	Gemma: {`{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}` +
		`{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}` +
		`{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}` +
		`{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}` +
		`{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}` +
		`{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}`, []string{"<end_of_turn>"}},
	Plain: {`{% for message in messages %}{{ message['content'] }}{% if not loop.last %}{{ '\n' }}{% endif %}{% endfor %}`, nil},
}

// detect is the family whose markers a template text holds, in the order
// llama.cpp tests them; ok is false for none.
func detect(source string) (f Family, ok bool) {
	has := func(s ...string) bool {
		for _, x := range s {
			if !strings.Contains(source, x) {
				return false
			}
		}
		return true
	}
	switch {
	case has("<|im_start|>"):
		return ChatML, true
	case has("[INST]", "<<SYS>>"):
		return Llama2, true
	case has("[INST]"):
		return Mistral, true
	case has("<|assistant|>", "<|end|>"):
		return Phi3, true
	case has("<start_of_turn>"):
		return Gemma, true
	case has("<|start_header_id|>", "<|end_header_id|>"):
		return Llama3, true
	}
	return "", false
}

// Template renders conversations for one model. It is safe for concurrent
// use.
type Template struct {
	Family Family // the built-in family in use, or "" for the model's own template
	// Stop are the texts that end an assistant's turn, for use as stop
	// sequences.
	Stop     []string
	tpl      *exec.Template
	bos, eos string
}

// New is the template of a model whose metadata holds source ("" for
// none) and whose vocabulary is tok.
func New(source string, tok *tokenizer.Tokenizer) (*Template, error) {
	bos, eos := tok.Piece(tok.BOS()), tok.Piece(tok.EOS())
	family, known := detect(source)
	if source == "" {
		family, known = detect(vocabularyMarkers(tok))
	} else if tpl, err := parse(source); err == nil {
		return &Template{Stop: builtin[family].stop, tpl: tpl, bos: bos, eos: eos}, nil
	} else if !known {
		family, known = ChatML, true // llama.cpp's fallback for a template it cannot run
	}
	if !known {
		family = Plain
	}
	return builtinTemplate(family, bos, eos)
}

// builtinTemplate is a family's built-in template, with bos and eos as
// the texts of the vocabulary's BOS and EOS tokens.
func builtinTemplate(f Family, bos, eos string) (*Template, error) {
	b, ok := builtin[f]
	if !ok {
		return nil, fmt.Errorf("chat: no template family %q", f)
	}
	tpl, err := parse(b.source)
	if err != nil {
		return nil, fmt.Errorf("chat: built-in template %s: %w", f, err)
	}
	return &Template{Family: f, Stop: b.stop, tpl: tpl, bos: bos, eos: eos}, nil
}

// vocabularyMarkers are the texts of a vocabulary's special tokens, for
// Detect.
func vocabularyMarkers(tok *tokenizer.Tokenizer) string {
	var b strings.Builder
	for id := range tok.VocabSize() {
		if ty := tok.Type(id); ty == tokenizer.TypeControl || ty == tokenizer.TypeUserDefined {
			b.WriteString(tok.Piece(id))
		}
	}
	return b.String()
}

// ErrTemplate is an error the template raised (raise_exception), such as
// roles that do not alternate: the conversation's fault, not the model's.
var ErrTemplate = errors.New("chat template")

// Render is the prompt for msgs, ending where the assistant's answer
// begins. A BOS text the template writes first is left out: the tokenizer
// adds BOS.
func (t *Template) Render(msgs []Message) (string, error) {
	if len(msgs) == 0 {
		return "", fmt.Errorf("%w: no messages", ErrTemplate)
	}
	messages := make([]map[string]any, len(msgs))
	for i, m := range msgs {
		messages[i] = map[string]any{"role": m.Role, "content": m.Content}
	}
	var raised error
	ctx := exec.NewContext(map[string]any{
		"messages":              messages,
		"add_generation_prompt": true,
		"bos_token":             t.bos,
		"eos_token":             t.eos,
		"raise_exception": func(msg string) (string, error) {
			raised = fmt.Errorf("%w: %s", ErrTemplate, msg)
			return "", raised
		},
	})
	out, err := t.tpl.ExecuteToString(ctx)
	if raised != nil {
		return "", raised
	}
	if err != nil {
		return "", fmt.Errorf("chat: rendering the template: %w", err)
	}
	if t.bos != "" {
		out = strings.TrimPrefix(out, t.bos)
	}
	return out, nil
}

// parse compiles a template as Hugging Face's transformers does (blocks
// trim the newline after them and the blanks before them), able to load
// no other file: a model's template is untrusted input, and {% include %}
// would read the disk.
func parse(source string) (*exec.Template, error) {
	return exec.NewTemplate(templateName, hfConfig, onlyTemplate(source), gonja.DefaultEnvironment)
}

var hfConfig = func() *config.Config {
	c := config.New()
	c.TrimBlocks, c.LeftStripBlocks = true, true
	return c
}()

const templateName = "chat_template"

// onlyTemplate is a gonja loader that knows one template.
type onlyTemplate string

func (l onlyTemplate) Read(path string) (io.Reader, error) {
	if path != templateName {
		return nil, fmt.Errorf("a chat template may not load %q", path)
	}
	return bytes.NewReader([]byte(l)), nil
}

func (l onlyTemplate) Resolve(path string) (string, error) { return path, nil }

func (l onlyTemplate) Inherit(string) (loaders.Loader, error) { return l, nil }
