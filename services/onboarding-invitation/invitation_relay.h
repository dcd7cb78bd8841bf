#pragma once

#include <prometheus/counter.h>

#include "domain/invitation_rules.h"
#include "msp/common/assignment_client.h"
#include "msp/common/mailer.h"
#include "msp/common/outbox.h"
#include "msp/common/pg.h"
#include "store/link_tokens.h"

namespace msp::onboarding {

// Delivers kInvitationEmailTopic messages: issues the link's token (replacing the previous
// one, so only the newest email's link works) and sends the email with a Message-ID made of
// the invitation id and its send count, so a duplicate after a crash is recognisable. An
// invitation no longer PENDING gets no email.
outbox::Handler InvitationEmailHandler(pg::Pool* pool, LinkTokens* tokens, mail::Mailer* mailer,
                                       EmailSettings settings,
                                       prometheus::Counter* invitations_sent);

// Delivers kAssignServicesTopic messages: AssignServices with the invitation's request id,
// retried until it succeeds; a refusal no retry can change is logged and ends it.
outbox::Handler AssignInvitedServicesHandler(AssignmentClient* client);

// Delivers kEndServicesTopic messages: EndCustomerServices for a delinked customer.
outbox::Handler EndDelinkedServicesHandler(AssignmentClient* client);

// Delivers kDelinkNoticeTopic messages: how a delink request ended, by email to the customer
// (accepted) and to the MSP's notification address (accepted or rejected).
outbox::Handler DelinkNoticeHandler(pg::Pool* pool, mail::Mailer* mailer, EmailSettings settings);

}  // namespace msp::onboarding
