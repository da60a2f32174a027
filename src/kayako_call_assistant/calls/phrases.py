"""What the assistant says outside of help-center answers, in one place so a support lead can review it."""

from __future__ import annotations

# Escalation reasons (the ``escalation_reason`` stored on the call and logged) and how each is announced.
ASKED_FOR_PERSON = "caller_asked_for_person"
PRESSED_ZERO = "caller_pressed_0"
ANSWERS_DID_NOT_HELP = "answers_did_not_help"
NO_RELEVANT_ARTICLE = "no_relevant_article"
FRUSTRATED = "caller_frustrated"
ALWAYS_HUMAN_TOPIC = "always_human_topic"  # stored as "always_human_topic:<topic>"
HELP_CENTER_UNAVAILABLE = "help_center_unavailable"
CALLER_SILENT = "caller_silent"
CALLER_HUNG_UP = "caller_hung_up"
CALLER_SAID_GOODBYE = "caller_said_goodbye"

ESCALATION_INTROS = {
    ASKED_FOR_PERSON: "Of course, I'll get a member of our team to help you.",
    PRESSED_ZERO: "Of course, I'll get a member of our team to help you.",
    ANSWERS_DID_NOT_HELP: "I'm sorry that didn't solve it. I'll pass this to a member of our team.",
    NO_RELEVANT_ARTICLE: (
        "I couldn't find an answer to that in our help center, so I'll pass it to a member of our team."
    ),
    FRUSTRATED: "I'm sorry about the trouble. Let me get a person to help you.",
    ALWAYS_HUMAN_TOPIC: "That's something a member of our team needs to handle personally.",
    HELP_CENTER_UNAVAILABLE: (
        "I can't reach our help center right now, so I'll pass this to a member of our team."
    ),
}
DETAILS_INTRO = "First, a few details so they can reach you."

HOW_CAN_I_HELP = "How can I help you today?"
DESCRIBE_ISSUE = "Please tell me in a sentence or two what you need help with."
ANYTHING_ELSE = "Is there anything else I can help with?"
DID_THAT_SOLVE_IT = "Did that solve your problem?"
YES_OR_NO = "Did that solve your problem? Please say yes or no."
RESOLUTION_AGAIN = "Sorry, I just need a yes or a no. Did that solve your problem?"
CALLER_LEFT_AFTER_ANSWER = "answered_no_confirmation"  # reason of the optional low-priority record
TRY_AGAIN = "I'm sorry that didn't help. Let me try another way."
STILL_THERE = "Are you still there?"
LINE_DROPPED = "Sorry, the line dropped for a moment. I'm still here."  # a call resumed on another replica

ASK_NAME = "May I have your name, please?"
ASK_NAME_AGAIN = "Sorry, I didn't catch your name. Could you say it again?"
ASK_NAME_LATER = "And may I have your name, please?"
ASK_EMAIL = "What email address should we use? You can say it or spell it letter by letter."
ASK_EMAIL_AGAIN = "Sorry, I didn't get that. Please say your email address, or spell it letter by letter."
EMAIL_WRONG = "Sorry about that. Please say your email address again, or spell it letter by letter."
CONFIRM_YES_NO = "Please say yes or no."
ASK_PHONE = "What phone number can we reach you on?"
ASK_PHONE_AGAIN = "Sorry, I didn't get that. Please say the phone number digit by digit."
NO_PROBLEM = "No problem."
DETAILS_ALREADY = "I'm arranging that now."

OPENING_CASE = "I'm opening a case for you now."
CASE_LATER_EMAIL = (
    "Our system is a little slow right now, so your case will be created shortly and you'll get an email "
    "with its number."
)
CASE_LATER_NO_EMAIL = (
    "Our system is a little slow right now, so your case will be created shortly and our team "
    "will contact you."
)
TRANSFERRING = "I'm transferring you to a member of our team now. Please hold."
TEAM_WILL_FOLLOW_UP = "A member of our team will get back to you."
TRANSFER_FAILED = "I'm sorry, I couldn't connect you to an agent right now. An agent will call you back."
TRANSFER_FAILED_REASON = "transfer_failed"

SILENT_WITH_CASE = "I haven't heard from you, so I'll file your request with the details I have."
SILENT_GOODBYE = "I haven't heard anything, so I'll end the call now. Please call back any time."
CLARIFY_AGAIN = "Sorry, which one did you mean? You can say the first one or the second one."
NEITHER = "neither"
ABUSE_WARNING = "I want to help, but I can't continue if the language stays abusive."
ABUSE_END = "I'm ending this call now."
YOURE_WELCOME = "You're welcome."
GO_AHEAD = "Sure, go ahead and tell me what you need help with."
GLAD_IT_HELPED = "Great, I'm glad that helped."
ASK_CASE_NUMBER = "Please tell me the case number, for example: case one two three."
CASE_LOOKUP_FAILED = "I can't look that case up right now."
VERIFY_EMAIL = (
    "To keep your case private, I need to check it's you. What's the email address on the case? "
    "You can say it or spell it letter by letter."
)
VERIFY_EMAIL_AGAIN = (
    "Sorry, I couldn't verify that. Please say the email address on the case again, or spell it letter "
    "by letter."
)
CANT_SHARE_CASE = (
    "I'm sorry, I can't share the details of that case on this call. A member of our team can help you "
    "with it."
)


def scope(helpdesk_name: str) -> str:
    """Greetings, jokes, weather and chit-chat: a short, friendly scope statement and a question back."""
    return f"I can help with questions about {helpdesk_name}. What can I help you with?"


def clarify(first: str, second: str) -> str:
    """One clarifying question naming the two articles the question could be about."""
    return f"Just to be sure I give you the right answer: is it about {first}, or about {second}?"


def case_not_on_account(spoken_number: str) -> str:
    """Said the same whether the case does not exist or belongs to someone else: existence is not told."""
    return f"I couldn't find case {spoken_number} on your account."


def goodbye(helpdesk_name: str) -> str:
    return f"Thank you for calling {helpdesk_name}. Goodbye."
