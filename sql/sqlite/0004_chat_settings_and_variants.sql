-- Chat: per-conversation settings (system prompt, temperature, max tokens; the model column
-- exists already), and answer variants: an answer names the user message it answers
-- (reply_to), so a regenerated answer sits beside the old one; a user message that was
-- edited and sent again names the message it revises (edit_of).

ALTER TABLE chat_conversations ADD COLUMN system_prompt TEXT;
ALTER TABLE chat_conversations ADD COLUMN temperature REAL;
ALTER TABLE chat_conversations ADD COLUMN max_tokens INTEGER;

ALTER TABLE chat_messages ADD COLUMN reply_to INTEGER;
ALTER TABLE chat_messages ADD COLUMN edit_of INTEGER;
