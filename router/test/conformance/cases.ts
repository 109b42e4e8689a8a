/**
 * The conformance cases: one entry per request, each run through stock Apollo and through
 * the router (conformance.test.ts). A new case is one more entry.
 *
 * The library's data (library.ts), in short: books b1 Dune (sequel b2), b2 Dune Messiah, b3
 * The Left Hand of Darkness, b4 a manuscript in the vault; films f1 Arrival, f2 Solaris;
 * members m1 Ada (home branch Lyon/L1), m2 Grace; branches Lyon/L1 and Oslo/O1 open, Gent/G1
 * closed with a withdrawn book b9 on its shelf; loan l2 is to a member people does not know
 * (m9). Planted failures: b2's blurb, b3's average rating, review r5's stars (null for a
 * non-null field), delivery to zone 3 of parcels over 500 g (b1) and to zones outside 1–3.
 */
import type { Answer, ComparedError, Request } from './harness';
import type { SubgraphName } from './library';
import type { Fault } from './subgraph-server';

/**
 * Kinds of query plan node, and of fetch, that the cases' plans must reach between them. An
 * entity fetch is a fetch with `requires` (entities sent as representations); `@requires` is
 * one whose representations carry fields that are not keys.
 */
export const PLAN_FEATURES = [
  'Sequence',
  'Parallel',
  'Flatten',
  'Flatten through a list of lists',
  'Condition',
  'entity fetch',
  '@requires',
  'inputRewrites',
  'outputRewrites',
] as const;

export type PlanFeature = (typeof PLAN_FEATURES)[number];

/** An answer as the suite states it: the data, in order, and the errors as compared. */
export interface Expected {
  data?: unknown;
  errors?: ComparedError[];
  /** Errors stock reports outside `errors`, in `extensions.valueCompletion`. */
  valueCompletion?: ComparedError[];
}

/**
 * Where stock Apollo answers against the GraphQL or federation spec. Stock's answer is
 * recorded and checked, so the record stays true; the router must give the spec's answer.
 */
export interface Deviation {
  /** What the spec requires and where stock departs from it. */
  why: string;
  /** Stock's answer as it is, before any normalisation. */
  stock: Expected;
  /** The spec's answer in stock's terms (the data when it differs, the errors); the router's is this after the normalisations. */
  spec: Expected;
  /** Set while the router still answers as stock does here: its check is then a known failure, to flip once it follows the spec. */
  pending?: string;
}

export interface ConformanceCase extends Request {
  /** What a client would notice; the test's name. */
  name: string;
  /** Subgraphs that fail while the case runs. */
  faults?: Partial<Record<SubgraphName, Fault>>;
  /** What the case's plan must contain: the case is there to exercise it. */
  plan?: PlanFeature[];
  /** How many fetches the plan makes, where that is the point (@provides, @shareable). */
  fetches?: number;
  /** Checks on stock's answer that show the case does what its name says. */
  shows?: (stock: Answer['body']) => void;
  deviation?: Deviation;
}

const errorPaths = (body: Answer['body']) => (body.errors ?? []).map((e) => e.path);

export const CASES: ConformanceCase[] = [
  // Entities and keys.
  {
    name: 'resolves an entity through three subgraphs in one query (lending → catalog → people)',
    query: `{ loan(id: "l1") { due copy { number condition book { title author { name born } } } } }`,
    plan: ['Sequence', 'Flatten', 'entity fetch'],
    shows: (stock) => expect(stock.data).toEqual({ loan: { due: '2030-01-15', copy: { number: 1, condition: 'GOOD', book: { title: 'Dune', author: { name: 'Frank Herbert', born: 1920 } } } } }),
  },
  {
    name: 'finds books by their second key (isbn) and follows them to the subgraphs keyed by id',
    query: `{ search(term: "dune") { ... on Book { title isbn deliveryFee(zone: 1) copies { number branch { name } } } } }`,
    plan: ['Sequence', 'entity fetch', '@requires'],
  },
  {
    name: 'resolves an entity by a key of two fields, and leaves a null reference null',
    query: `{ member(id: "m1") { name homeBranch { city code name copies { number condition } } } members { id homeBranch { name } } }`,
    plan: ['Parallel', 'entity fetch'],
    shows: (stock) => expect(stock.data?.members).toEqual([{ id: 'm1', homeBranch: { name: 'Part-Dieu' } }, { id: 'm2', homeBranch: null }]),
  },
  {
    name: 'resolves an entity by a nested key (book { id } number)',
    query: `{ branch(city: "Oslo", code: "O1") { copies { number edition condition book { title } } } }`,
    plan: ['Sequence', 'entity fetch'],
  },
  {
    name: 'completes entities in a list of lists through two more subgraphs',
    query: `{ branches { name layout { id title author { name } } } }`,
    plan: ['Sequence', 'Flatten through a list of lists'],
  },
  {
    name: 'completes a union whose members three subgraphs own, from keys alone (@key resolvable: false)',
    query: `{ search(term: "ar") { __typename ... on Book { title author { name } } ... on Film { title minutes director { name } } ... on Author { name born } } }`,
    plan: ['Sequence', 'Parallel', 'entity fetch'],
    shows: (stock) => expect((stock.data?.search as { __typename: string }[]).map((hit) => hit.__typename)).toEqual(['Book', 'Film', 'Film', 'Author']),
  },
  {
    name: 'completes an interface returned by an @interfaceObject subgraph with its owner’s concrete types',
    query: `{ topMedia(first: 2) { __typename id title averageRating ... on Book { pages author { name } } ... on Film { minutes } } }`,
    plan: ['Sequence', 'inputRewrites'],
  },
  {
    name: 'answers the @interfaceObject subgraph’s fields for concrete types',
    query: `{ books { title reviews(first: 1) { stars author { name } } } films { title averageRating } }`,
    plan: ['Parallel', 'inputRewrites'],
  },
  {
    name: 'spreads named and inline fragments on interfaces and unions, nested',
    operationName: 'Shelf',
    query: `query Shelf { media(id: "f1") { ...Card } search(term: "dune") { ...Card ... on Author { name } } }
      fragment Card on Media { __typename id title ... on Book { format sequel { ...Title } } ... on Film { minutes } }
      fragment Title on Media { title }`,
    plan: ['Parallel', 'entity fetch'],
  },
  {
    name: 'renames back a field the plan aliased because its subgraph types differ between members',
    query: `{ a: media(id: "f2") { ... on Book { callNumber } ... on Film { callNumber } } b: media(id: "b1") { ... on Book { callNumber } ... on Film { callNumber } } }`,
    plan: ['outputRewrites'],
    shows: (stock) => expect(stock.data).toEqual({ a: { callNumber: null }, b: { callNumber: '813.54 HER' } }),
  },
  {
    name: '@requires a field with an argument and a nested selection',
    query: `{ books { title deliveryFee(zone: 2) } }`,
    plan: ['Sequence', '@requires'],
  },
  {
    name: '@requires the field the client also asks with another argument, from variables',
    query: `query Fees($zone: Int!, $unit: WeightUnit!) { book(id: "b3") { weight(unit: $unit) dimensions { depth } deliveryFee(zone: $zone) } }`,
    variables: { zone: 3, unit: 'OUNCE' },
    plan: ['@requires'],
    shows: (stock) => expect(stock.data).toEqual({ book: { weight: 11, dimensions: { depth: 20 }, deliveryFee: 330 } }),
  },
  {
    name: '@provides: the member’s name comes with the review, without a fetch from people',
    query: `{ latestReviews(first: 2) { body author { name } } }`,
    fetches: 1,
  },
  {
    name: '@provides covers only the fields it names: the rest are fetched from their owners',
    query: `{ latestReviews(first: 2) { body author { name reviewCount homeBranch { name } } } }`,
    plan: ['Sequence', 'entity fetch'],
  },
  {
    name: '@shareable: the title comes from whichever subgraph the plan is already in',
    query: `{ search(term: "dune") { ... on Book { title callNumber } } books { title callNumber } }`,
    fetches: 2,
  },
  {
    name: '@override: the review count comes from reviews, not from people’s stale copy',
    query: `{ members { name reviewCount } }`,
    shows: (stock) => expect(stock.data).toEqual({ members: [{ name: 'Ada', reviewCount: 3 }, { name: 'Grace', reviewCount: 2 }] }),
  },

  // @inaccessible: never told, never queryable.
  {
    name: '@inaccessible field cannot be queried',
    query: `{ book(id: "b1") { title acquisition { supplier } } }`,
    shows: (stock) => expect(stock.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED'),
  },
  {
    name: '@inaccessible type is unknown',
    query: `{ book(id: "b1") { ... on Acquisition { supplier } } }`,
  },
  {
    name: '@inaccessible enum value is refused as an argument',
    query: `{ books(format: MANUSCRIPT) { title } }`,
  },
  {
    name: '@inaccessible enum value is refused in a variable',
    query: `query Shelf($format: Format) { books(format: $format) { title } }`,
    variables: { format: 'MANUSCRIPT' },
  },
  {
    name: '@inaccessible fields, types and enum values are absent from introspection',
    query: `{ book: __type(name: "Book") { fields { name } } format: __type(name: "Format") { enumValues(includeDeprecated: true) { name } }
      acquisition: __type(name: "Acquisition") { name } member: __type(name: "Member") { fields { name } } }`,
    shows: (stock) => {
      const data = stock.data as Record<'book' | 'member', { fields: { name: string }[] }> & { format: { enumValues: { name: string }[] } };
      expect(data.book.fields.map((f) => f.name)).not.toContain('acquisition');
      expect(data.format.enumValues.map((v) => v.name)).toEqual(['HARDCOVER', 'PAPERBACK', 'EBOOK']);
      expect(stock.data?.acquisition).toBeNull();
      expect(data.member.fields.map((f) => f.name)).not.toContain('email');
    },
  },
  {
    name: '@inaccessible enum value a subgraph returns is not told: the non-null field’s null bubbles up',
    query: `{ book(id: "b4") { title format } books { title } }`,
    deviation: {
      why:
        'GraphQL spec, CompleteValue: a leaf value that cannot be serialised, and a null in a non-null position, raise a field error, ' +
        'and every field error is added to `errors`. Stock nulls the field and its parent but reports the error only in `extensions.valueCompletion`, ' +
        'so the client sees `book: null` with no error.',
      stock: {
        data: { book: null, books: [{ title: 'Dune' }, { title: 'Dune Messiah' }, { title: 'The Left Hand of Darkness' }] },
        valueCompletion: [{ message: 'Invalid value found for field Book.format.', path: ['book', 'format'], code: 'INVALID_GRAPHQL' }],
      },
      spec: { errors: [{ message: 'Invalid value found for field Book.format.', path: ['book', 'format'], code: 'INVALID_GRAPHQL' }] },
    },
  },

  // The operation: aliases, fragments, directives, variables, names, mutations.
  {
    name: 'aliases a field, the same field with different arguments too',
    query: `{ book(id: "b1") { grams: weight ounces: weight(unit: OUNCE) near: deliveryFee(zone: 1) far: deliveryFee(zone: 2) first: reviews(first: 1) { stars } all: reviews { stars } }
      top1: topMedia(first: 1) { id } top2: topMedia(first: 2) { id } }`,
    plan: ['Parallel', '@requires'],
    shows: (stock) => expect(stock.data?.book).toEqual({ grams: 640, ounces: 23, near: 250, far: 350, first: [{ stars: 5 }], all: [{ stars: 5 }, { stars: 4 }] }),
  },
  {
    name: '@skip and @include from variables leave out fields and the fetches they need',
    query: `query Shelf($withReviews: Boolean!, $skipAuthor: Boolean!) { books { title author @skip(if: $skipAuthor) { name } ... @include(if: $withReviews) { averageRating reviews { stars } } } }`,
    variables: { withReviews: false, skipAuthor: true },
    plan: ['Condition'],
    shows: (stock) => expect(stock.data).toEqual({ books: [{ title: 'Dune' }, { title: 'Dune Messiah' }, { title: 'The Left Hand of Darkness' }] }),
  },
  {
    name: '@skip and @include from variables keep fields and the fetches they need',
    query: `query Shelf($withReviews: Boolean!, $skipAuthor: Boolean!) { books { title author @skip(if: $skipAuthor) { name } ... @include(if: $withReviews) { reviews { stars } } } }`,
    variables: { withReviews: true, skipAuthor: false },
    plan: ['Condition'],
  },
  {
    name: 'passes variables to nested entity fetches',
    query: `query Shelves($n: Int, $zone: Int!) { branches { layout { reviews(first: $n) { stars } deliveryFee(zone: $zone) } } }`,
    variables: { n: 1, zone: 2 },
    plan: ['Flatten through a list of lists', '@requires'],
  },
  {
    name: 'answers __typename everywhere, the root type included',
    query: `{ __typename search(term: "dune") { __typename ... on Book { __typename } } topMedia { __typename } member(id: "m1") { __typename homeBranch { __typename } } }`,
    shows: (stock) => expect(stock.data?.__typename).toBe('Query'),
  },
  {
    name: 'answers __typename on the mutation root type',
    query: `mutation { __typename }`,
    shows: (stock) => expect(stock.data).toEqual({ __typename: 'Mutation' }),
  },
  {
    name: 'runs the operation that operationName names',
    query: `query Books { books { title } } query Films { films { title } }`,
    operationName: 'Films',
  },
  {
    name: 'runs mutations one after another, across subgraphs, each seeing what the one before did',
    query: `mutation Lend {
      first: addReview(mediaId: "b2", stars: 4, body: "Darker.", authorId: "m2") { id }
      borrow(bookId: "b2", number: 1, memberId: "m2") { id member { reviewCount reviews { id } } }
      rename: renameMember(id: "m2", name: "Grace H.") { name loans { id } }
      second: addReview(mediaId: "b2", stars: 2, body: "Again?", authorId: "m2") { id author { name } media { reviews { id author { name } } } }
    }`,
    plan: ['Sequence'],
    // The first review is slow: a gateway that ran the loan alongside would not see it in the member's reviews.
    shows: (stock) =>
      expect(stock.data).toEqual({
        first: { id: 'r6' },
        borrow: { id: 'l3', member: { reviewCount: 3, reviews: [{ id: 'r2' }, { id: 'r3' }, { id: 'r6' }] } },
        rename: { name: 'Grace H.', loans: [{ id: 'l3' }] },
        second: { id: 'r7', author: { name: 'Grace H.' }, media: { reviews: [{ id: 'r6', author: { name: 'Grace H.' } }, { id: 'r7', author: { name: 'Grace H.' } }] } },
      }),
  },
  {
    name: 'a mutation that fails does not stop the next one',
    query: `mutation { lent: borrow(bookId: "b1", number: 1, memberId: "m2") { id } renamed: renameMember(id: "m1", name: "Ada L.") { name } }`,
    shows: (stock) => expect(stock.data).toEqual({ lent: null, renamed: { name: 'Ada L.' } }),
  },
  {
    name: 'orders fields as the operation first selects them, fragments included',
    query: `{ book(id: "b1") { averageRating title ... on Media { averageRating id } deliveryFee(zone: 1) isbn } }`,
  },
  {
    name: 'orders fields as the operation first selects them, when fragments on one type are interleaved with other fields',
    query: `{ search(term: "dune") { ... on Book { title } __typename ... on Book { isbn title } ... on Media { id } } }`,
    deviation: {
      why:
        'GraphQL spec, CollectFields: fields are ordered by where each response name is first selected, fragments expanded in place, ' +
        'so `title, __typename, isbn, id`. Stock merges the two fragments on Book before it shapes the response and answers `title, isbn, __typename, id`.',
      stock: {
        data: {
          search: [
            { title: 'Dune', isbn: '9780441013593', __typename: 'Book', id: 'b1' },
            { title: 'Dune Messiah', isbn: '9780593098233', __typename: 'Book', id: 'b2' },
          ],
        },
      },
      spec: {
        data: {
          search: [
            { title: 'Dune', __typename: 'Book', isbn: '9780441013593', id: 'b1' },
            { title: 'Dune Messiah', __typename: 'Book', isbn: '9780593098233', id: 'b2' },
          ],
        },
      },
    },
  },

  // Errors and nulls at every depth.
  {
    name: 'an error at a root field nulls that field; the other root fields answer',
    query: `{ member(id: "m404") { name } books { title } }`,
    shows: (stock) => expect(errorPaths(stock)).toEqual([['member']]),
  },
  {
    name: 'an error inside a list nulls that element’s field only',
    query: `{ books { title blurb } }`,
    shows: (stock) => expect(errorPaths(stock)).toEqual([['books', 1, 'blurb']]),
  },
  {
    name: 'an error in an entity fetch carries the entity’s path in the response',
    query: `{ books { title averageRating } }`,
    plan: ['entity fetch'],
    shows: (stock) => expect(errorPaths(stock)).toEqual([['books', 2, 'averageRating']]),
  },
  {
    name: 'an error in an entity fetch inside a list of lists carries both indexes',
    query: `{ branch(city: "Oslo", code: "O1") { layout { title averageRating } } }`,
    plan: ['Flatten through a list of lists'],
    shows: (stock) => expect(errorPaths(stock)).toEqual([['branch', 'layout', 0, 0, 'averageRating']]),
  },
  {
    name: 'an error in a @requires fetch keeps its registry code and message',
    query: `{ book(id: "b1") { title deliveryFee(zone: 9) } books { title } }`,
    plan: ['@requires'],
    shows: (stock) => expect(stock.errors?.map((e) => e.extensions?.code)).toEqual(['BAD_USER_INPUT']),
  },
  {
    name: 'an error in a @requires fetch is put at the entity that failed when an earlier entity could not be sent',
    query: `{ branch(city: "Gent", code: "G1") { layout { id deliveryFee(zone: 3) } } }`,
    plan: ['Flatten through a list of lists', '@requires'],
    deviation: {
      why:
        'GraphQL spec, Errors: `path` names the response field that failed. The withdrawn book b9 (index 0) has no weight, so only Dune (index 1) ' +
        'is sent to lending, and Dune fails; stock maps the error by its index among the entities sent onto the entities in the response, ' +
        'and blames b9.',
      stock: {
        data: { branch: { layout: [[{ id: 'b9', deliveryFee: null }, { id: 'b1', deliveryFee: null }]] } },
        errors: [{ message: 'Parcels over 500 g are not delivered to zone 3.', path: ['branch', 'layout', 0, 0, 'deliveryFee'], code: 'BAD_USER_INPUT' }],
      },
      spec: { errors: [{ message: 'Parcels over 500 g are not delivered to zone 3.', path: ['branch', 'layout', 0, 1, 'deliveryFee'], code: 'BAD_USER_INPUT' }] },
    },
  },
  {
    name: 'a non-null field’s null bubbles up to the nearest nullable parent inside the subgraph, at a root field and in an entity fetch',
    query: `{ review(id: "r5") { body stars } media(id: "f2") { title reviews { body stars } } }`,
    shows: (stock) => {
      expect(stock.data).toEqual({ review: null, media: null });
      expect(errorPaths(stock)).toEqual([['review', 'stars'], ['media', 'reviews', 0, 'stars']]);
    },
  },
  {
    name: 'a nullable entity reference that is null stays null and is not fetched',
    query: `{ books { title sequel { title reviews { stars } sequel { title } } } }`,
  },
  {
    name: 'an entity another subgraph cannot find: its nullable fields are null, without an error',
    query: `{ loan(id: "l2") { due member { id homeBranch { name } } } }`,
    shows: (stock) => expect(stock).toEqual({ data: { loan: { due: '2030-02-01', member: { id: 'm9', homeBranch: null } } } }),
  },
  {
    name: 'an entity another subgraph cannot find: a non-null field’s null bubbles up to the nearest nullable parent',
    query: `{ loan(id: "l2") { due member { id name } } }`,
    deviation: {
      why:
        'GraphQL spec, CompleteValue: a null for a non-null field raises a field error, added to `errors`. People answers null for the unknown ' +
        'member, so `Member.name` is null; stock bubbles the null to `member` but reports the error only in `extensions.valueCompletion`.',
      stock: {
        data: { loan: { due: '2030-02-01', member: null } },
        valueCompletion: [{ message: 'Cannot return null for non-nullable field Member.name.', path: ['loan', 'member', 'name'], code: 'INVALID_GRAPHQL' }],
      },
      spec: { errors: [{ message: 'Cannot return null for non-nullable field Member.name.', path: ['loan', 'member', 'name'], code: 'INVALID_GRAPHQL' }] },
    },
  },
  {
    name: 'an entity missing from a list of lists: the null bubbles through both lists to the nearest nullable parent',
    query: `{ branch(city: "Gent", code: "G1") { name layout { title } } branches { name } }`,
    plan: ['Flatten through a list of lists'],
    deviation: {
      why: 'As for the unknown member: the withdrawn book’s non-null title is null, the null reaches `branch`, and stock reports why only in `extensions.valueCompletion`.',
      stock: {
        data: { branch: null, branches: [{ name: 'Part-Dieu' }, { name: 'Deichman' }] },
        valueCompletion: [{ message: 'Cannot return null for non-nullable field Book.title.', path: ['branch', 'layout', 0, 0, 'title'], code: 'INVALID_GRAPHQL' }],
      },
      spec: { errors: [{ message: 'Cannot return null for non-nullable field Book.title.', path: ['branch', 'layout', 0, 0, 'title'], code: 'INVALID_GRAPHQL' }] },
    },
  },
  {
    name: 'a null for a non-null field is reported when another field failed too',
    query: `{ loan(id: "l2") { member { id name } } books { averageRating } }`,
    deviation: {
      why:
        'GraphQL spec: every field error is added to `errors`. When any fetch failed, stock drops its value completion errors altogether ' +
        '(not even `extensions.valueCompletion`), so `member: null` is left unexplained beside the unrelated rating error.',
      stock: {
        data: { loan: { member: null }, books: [{ averageRating: 4.5 }, { averageRating: null }, { averageRating: null }] },
        errors: [{ message: 'Ratings for b3 are being recalculated.', path: ['books', 2, 'averageRating'], code: 'RATINGS_STALE' }],
      },
      spec: {
        errors: [
          { message: 'Ratings for b3 are being recalculated.', path: ['books', 2, 'averageRating'], code: 'RATINGS_STALE' },
          { message: 'Cannot return null for non-nullable field Member.name.', path: ['loan', 'member', 'name'], code: 'INVALID_GRAPHQL' },
        ],
      },
    },
  },

  // Subgraphs that fail: the rest of the response still comes back.
  {
    name: 'a subgraph that is down (connection refused): its fields are null, the rest answers',
    query: `{ books { title averageRating } }`,
    faults: { reviews: 'down' },
    shows: (stock) => expect(stock.errors?.[0]?.message).toMatch(/ECONNREFUSED/),
  },
  {
    name: 'a subgraph that is down at a root field: that field is null, the other root fields answer',
    query: `{ member(id: "m1") { name } books { title } }`,
    faults: { people: 'down' },
    shows: (stock) => expect(stock.data?.books).toHaveLength(3),
  },
  {
    name: 'a subgraph that answers HTTP 500: the entity it completes is null, the rest answers',
    query: `{ loan(id: "l1") { due member { name } copy { book { title } } } }`,
    faults: { people: 'http-500' },
    shows: (stock) => expect(stock.data).toEqual({ loan: { due: '2030-01-15', member: null, copy: { book: { title: 'Dune' } } } }),
  },
  {
    name: 'a subgraph that answers invalid JSON: its fields are null, the rest answers',
    query: `{ branches { name copies { number edition } } }`,
    faults: { catalog: 'invalid-json' },
  },
  {
    name: 'the only subgraph that knows the concrete types of @interfaceObject entities is down: they cannot be told',
    query: `{ topMedia { __typename id } }`,
    faults: { catalog: 'down' },
    shows: (stock) => expect(stock.data).toBeNull(),
  },

  // Requests refused before planning.
  {
    name: 'a required variable that is missing is refused',
    query: `query Fees($zone: Int!) { books { deliveryFee(zone: $zone) } }`,
  },
];
