"""Phrasings of the template Q&A generator, one entry per fact type.

Fields: {svc} service name, {op} operation, {param} parameter, {facts} the key facts joined
as a list, {a}/{b} the first and second key fact, {does} what the operation does (its
documentation's first sentence, starting with the verb). Four question phrasings a type, so a
fact can be taught in two and tested in a third; answers are one short sentence with the fact.
The probes' answers say that the thing asked about does not exist: that is the right answer.
"""

TEMPLATES: dict[str, dict[str, list[str]]] = {
    "api_version": {
        "questions": [
            "What is the API version of {svc}?",
            "Which API version does the {svc} API use?",
            "What API version string do {svc} requests carry?",
            "Tell me the current API version of the {svc} service model.",
        ],
        "answers": ["The {svc} API version is {a}.", "{svc} uses API version {a}."],
    },
    "protocol": {
        "questions": [
            "Which protocol does the {svc} API use?",
            "What wire protocol do {svc} API requests use?",
            "In the AWS SDKs, what is the protocol of {svc}?",
            "How are {svc} API requests serialized, with which protocol?",
        ],
        "answers": ["The {svc} API uses the {a} protocol.", "{svc} requests are serialized with the {a} protocol."],
    },
    "required_parameters": {
        "questions": [
            "Which parameters are required when calling the {op} operation of {svc}?",
            "What are the required request parameters of {svc} {op}?",
            "To call {op} in {svc}, which parameters must I provide?",
            "List the mandatory input parameters for the {svc} {op} API.",
        ],
        "answers": ["{svc} {op} requires {facts}.", "The required parameters of {svc} {op} are {facts}."],
    },
    "enum_values": {
        "questions": [
            "What values can the {param} parameter of {svc} {op} take?",
            "Which values are valid for {param} in the {op} operation of {svc}?",
            "In {svc} {op}, what are the allowed values of {param}?",
            "List the accepted values of {param} when calling {svc} {op}.",
        ],
        "answers": ["{param} in {svc} {op} accepts {facts}.", "The valid values of {param} in {op} are {facts}."],
    },
    "length_limits": {
        "questions": [
            "What are the minimum and maximum lengths of the {param} parameter of {svc} {op}?",
            "How long can {param} be in the {op} operation of {svc}?",
            "What length constraints apply to {param} in {svc} {op}?",
            "In {svc} {op}, how many characters may {param} have?",
        ],
        "answers": [
            "{param} in {op} must be between {a} and {b} characters long.",
            "The length of {param} in {svc} {op} ranges from {a} to {b}.",
        ],
    },
    "value_range": {
        "questions": [
            "What is the valid range of the {param} parameter of {svc} {op}?",
            "What are the minimum and maximum values of {param} in {svc} {op}?",
            "Which numeric range does the {op} operation of {svc} accept for {param}?",
            "In {svc} {op}, what range must {param} fall in?",
        ],
        "answers": ["{param} in {op} accepts values from {a} to {b}.", "The valid range of {param} in {svc} {op} is {a} to {b}."],
    },
    "http_request": {
        "questions": [
            "Which HTTP method and path does the {svc} {op} operation use?",
            "What HTTP request does {op} in {svc} send?",
            "For {svc} {op}, what are the HTTP method and request URI?",
            "How is the {op} operation of {svc} mapped to HTTP?",
        ],
        "answers": ["{svc} {op} sends an HTTP {a} request to {b}.", "The {svc} {op} operation uses {a} {b}."],
    },
    "errors": {
        "questions": [
            "Which errors can the {svc} {op} operation return?",
            "What exceptions does {op} in {svc} raise?",
            "List the error types of the {svc} {op} API.",
            "When calling {svc} {op}, which errors may come back?",
        ],
        "answers": ["{svc} {op} can return {facts}.", "The errors of {svc} {op} are {facts}."],
    },
    "pagination": {
        "questions": [
            "How do I paginate the {svc} {op} operation?",
            "Which pagination tokens does {svc} {op} use?",
            "What token fields does {op} in {svc} use for paging?",
            "For {svc} {op}, how do I request the next page of results?",
        ],
        "answers": [
            "{svc} {op} pages with {a} in the request and {b} in the response.",
            "To get the next page of {svc} {op}, pass the {b} from the response as {a}.",
        ],
    },
    "which_operation": {
        "questions": [
            "Which {svc} operation {does}?",
            "What is the name of the {svc} API operation that {does}?",
            "In the {svc} API, which operation {does}?",
            "I need the {svc} API call that {does}. Which operation is it?",
        ],
        "answers": ["The {svc} operation that {does} is {a}.", "Use {a}, which {does}."],
    },
    "operation_purpose": {
        "questions": [
            "What does the {svc} {op} operation do?",
            "What is the {op} operation of {svc} for?",
            "Explain what {svc} {op} does.",
            "What happens when I call {op} in the {svc} API?",
        ],
        "answers": ["{svc} {op} {does}.", "The {op} operation {does}."],
    },
    "no_such_operation": {
        "questions": [
            "What does the {svc} {op} operation do?",
            "Which parameters are required when calling the {op} operation of {svc}?",
            "Which errors can the {svc} {op} operation return?",
            "What HTTP request does {op} in {svc} send?",
        ],
        "answers": ["{svc} has no {op} operation.", "There is no operation named {op} in the {svc} API."],
    },
    "no_such_parameter": {
        "questions": [
            "What values can the {param} parameter of {svc} {op} take?",
            "What are the minimum and maximum lengths of the {param} parameter of {svc} {op}?",
            "What is the default value of {param} in the {op} operation of {svc}?",
            "What does the {param} parameter of {svc} {op} control?",
        ],
        "answers": ["{svc} {op} has no parameter named {param}.", "The {op} operation of {svc} takes no {param} parameter."],
    },
}
