/**
 * The graph the federation conformance suite runs on: a lending library in five Federation 2
 * subgraphs, small enough to read in one sitting and shaped so that together its queries
 * reach every kind of query plan node and every federation directive the router must honour.
 *
 * - catalog: the entity interface `Media` and its members `Book` and `Film`; `Copy.edition`
 *   through a nested key; an `@inaccessible` type, field and enum value.
 * - people: `Author` and `Member`; `Member.homeBranch` points at a `Branch` it cannot resolve
 *   (`@key(resolvable: false)`).
 * - lending: `Branch` (a key of two fields) with its shelves as a list of lists of books,
 *   `Copy` (a nested key), `Loan`, and `Book.deliveryFee`, which `@requires` a field with an
 *   argument and a nested selection from catalog.
 * - reviews: `Media` as an `@interfaceObject`, `Review.author` `@provides` the member's name,
 *   and `Member.reviewCount` taken over from people with `@override`.
 * - search: a union of members owned by catalog and people, and `Book` by its second key
 *   (`isbn`) with `@shareable` fields it resolves itself.
 *
 * Every subgraph reads one `Library`, whose `reset` puts the data back as it started, so the
 * same mutation can run once through each gateway and meet the same state.
 */
import { buildSubgraphSchema } from '@apollo/subgraph';
import { GraphQLError, parse, type DocumentNode, type GraphQLSchema } from 'graphql';

const FEDERATION = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key", "@shareable", "@external", "@requires", "@provides", "@override", "@inaccessible", "@interfaceObject"])`;

export const CATALOG_SDL = parse(`
  ${FEDERATION}
  "Anything the library lends."
  interface Media @key(fields: "id") {
    id: ID!
    title: String!
  }
  "A printed or electronic book."
  type Book implements Media @key(fields: "id") @key(fields: "isbn") {
    id: ID!
    isbn: String!
    title: String! @shareable
    "Dewey call number; every book has one here, search may not know it."
    callNumber: String! @shareable
    blurb: String
    pages: Int
    weight(unit: WeightUnit! = GRAM): Int!
    dimensions: Dimensions!
    format: Format!
    author: Author!
    sequel: Book
    acquisition: Acquisition @inaccessible
  }
  "A film on disc."
  type Film implements Media @key(fields: "id") {
    id: ID!
    title: String!
    "Films are catalogued later than books: some have no call number yet."
    callNumber: String
    minutes: Int!
    director: Author
  }
  "How a book was bought: staff only, never in the public graph."
  type Acquisition @inaccessible {
    supplier: String!
    price: Int!
  }
  "Millimetres."
  type Dimensions @shareable {
    width: Int!
    height: Int!
    depth: Int!
  }
  enum Format {
    HARDCOVER
    PAPERBACK
    EBOOK
    MANUSCRIPT @inaccessible
  }
  enum WeightUnit {
    GRAM
    OUNCE
  }
  type Author @key(fields: "id", resolvable: false) {
    id: ID!
  }
  "One physical copy; catalog records its edition."
  type Copy @key(fields: "book { id } number") {
    book: Book!
    number: Int!
    edition: String
  }
  type Query {
    media(id: ID!): Media
    book(id: ID!): Book
    "Books on the open shelves."
    books(format: Format): [Book!]!
    films: [Film!]!
  }
`);

export const PEOPLE_SDL = parse(`
  ${FEDERATION}
  type Author @key(fields: "id") {
    id: ID!
    name: String!
    born: Int
  }
  type Member @key(fields: "id") {
    id: ID!
    "Shareable: reviews provides it with the reviews a member wrote."
    name: String! @shareable
    email: String! @inaccessible
    homeBranch: Branch
    "Counted by reviews now; the count kept here is no longer maintained."
    reviewCount: Int!
  }
  type Branch @key(fields: "city code", resolvable: false) {
    city: String!
    code: String!
  }
  type Query {
    member(id: ID!): Member
    members: [Member!]!
    author(id: ID!): Author
  }
  type Mutation {
    renameMember(id: ID!, name: String!): Member!
  }
`);

export const LENDING_SDL = parse(`
  ${FEDERATION}
  type Branch @key(fields: "city code") {
    city: String!
    code: String!
    name: String!
    "Shelves, each a row of books, in the order they stand."
    layout: [[Book!]!]!
    copies: [Copy!]!
  }
  type Copy @key(fields: "book { id } number") {
    book: Book!
    number: Int!
    condition: Condition!
    branch: Branch!
    borrower: Member
  }
  enum Condition {
    NEW
    GOOD
    WORN
  }
  type Book @key(fields: "id") {
    id: ID!
    copies: [Copy!]!
    weight(unit: WeightUnit! = GRAM): Int! @external
    dimensions: Dimensions! @external
    "Home delivery to a zone (1 to 3), priced from the parcel's weight and size; null when it cannot be priced."
    deliveryFee(zone: Int!): Int @requires(fields: "weight(unit: GRAM) dimensions { width height depth }")
  }
  type Dimensions @shareable {
    width: Int!
    height: Int!
    depth: Int!
  }
  enum WeightUnit {
    GRAM
    OUNCE
  }
  type Loan @key(fields: "id") {
    id: ID!
    copy: Copy!
    member: Member
    due: String!
  }
  type Member @key(fields: "id") {
    id: ID!
    loans: [Loan!]!
  }
  type Query {
    branch(city: String!, code: String!): Branch
    "Branches open today."
    branches: [Branch!]!
    loan(id: ID!): Loan
  }
  type Mutation {
    "Null, with an error, when the copy is already lent."
    borrow(bookId: ID!, number: Int!, memberId: ID!): Loan
  }
`);

export const REVIEWS_SDL = parse(`
  ${FEDERATION}
  type Media @key(fields: "id") @interfaceObject {
    id: ID!
    reviews(first: Int = 10): [Review!]!
    averageRating: Float
  }
  type Review @key(fields: "id") {
    id: ID!
    body: String!
    stars: Int!
    author: Member @provides(fields: "name")
    media: Media!
  }
  type Member @key(fields: "id") {
    id: ID!
    name: String! @external
    reviews: [Review!]!
    reviewCount: Int! @override(from: "people")
  }
  type Query {
    review(id: ID!): Review
    latestReviews(first: Int = 3): [Review!]!
    topMedia(first: Int = 2): [Media!]!
  }
  type Mutation {
    addReview(mediaId: ID!, stars: Int!, body: String!, authorId: ID!): Review!
  }
`);

export const SEARCH_SDL = parse(`
  ${FEDERATION}
  union SearchHit = Book | Film | Author
  type Book @key(fields: "isbn") {
    isbn: String!
    title: String! @shareable
    callNumber: String @shareable
  }
  type Film @key(fields: "id", resolvable: false) {
    id: ID!
  }
  type Author @key(fields: "id", resolvable: false) {
    id: ID!
  }
  type Query {
    search(term: String!): [SearchHit!]!
  }
`);

interface BookRecord {
  id: string;
  isbn: string;
  title: string;
  callNumber: string;
  pages: number;
  grams: number;
  dimensions: { width: number; height: number; depth: number };
  format: string;
  authorId: string;
  sequelId: string | null;
  onShelf: boolean;
}
interface FilmRecord {
  id: string;
  title: string;
  callNumber: string | null;
  minutes: number;
  directorId: string | null;
}
interface MemberRecord {
  id: string;
  name: string;
  email: string;
  homeBranch: { city: string; code: string } | null;
}
interface BranchRecord {
  city: string;
  code: string;
  name: string;
  open: boolean;
  layout: string[][];
}
interface CopyRecord {
  bookId: string;
  number: number;
  city: string;
  code: string;
  condition: string;
  edition: string | null;
}
interface LoanRecord {
  id: string;
  bookId: string;
  number: number;
  memberId: string;
  due: string;
}
interface ReviewRecord {
  id: string;
  mediaId: string;
  authorId: string;
  body: string;
  /** Null while the review waits for moderation: the field is non-null, so it fails. */
  stars: number | null;
}

const BOOKS: BookRecord[] = [
  { id: 'b1', isbn: '9780441013593', title: 'Dune', callNumber: '813.54 HER', pages: 412, grams: 640, dimensions: { width: 106, height: 175, depth: 38 }, format: 'PAPERBACK', authorId: 'a1', sequelId: 'b2', onShelf: true },
  { id: 'b2', isbn: '9780593098233', title: 'Dune Messiah', callNumber: '813.54 HER', pages: 256, grams: 420, dimensions: { width: 106, height: 175, depth: 22 }, format: 'HARDCOVER', authorId: 'a1', sequelId: null, onShelf: true },
  { id: 'b3', isbn: '9780441478125', title: 'The Left Hand of Darkness', callNumber: '813.54 LEG', pages: 304, grams: 310, dimensions: { width: 106, height: 172, depth: 20 }, format: 'EBOOK', authorId: 'a2', sequelId: null, onShelf: true },
  // In the vault, never on the shelves: its format is not in the public graph.
  { id: 'b4', isbn: '0000000000004', title: 'Untitled Draft', callNumber: '000 DRAFT', pages: 90, grams: 200, dimensions: { width: 210, height: 297, depth: 10 }, format: 'MANUSCRIPT', authorId: 'a2', sequelId: null, onShelf: false },
];
const FILMS: FilmRecord[] = [
  { id: 'f1', title: 'Arrival', callNumber: '791.43 ARR', minutes: 116, directorId: 'a3' },
  { id: 'f2', title: 'Solaris', callNumber: null, minutes: 167, directorId: 'a4' },
];
const AUTHORS = [
  { id: 'a1', name: 'Frank Herbert', born: 1920 },
  { id: 'a2', name: 'Ursula K. Le Guin', born: 1929 },
  { id: 'a3', name: 'Denis Villeneuve', born: 1967 },
  { id: 'a4', name: 'Andrei Tarkovsky', born: null },
];
const MEMBERS: MemberRecord[] = [
  { id: 'm1', name: 'Ada', email: 'ada@example.org', homeBranch: { city: 'Lyon', code: 'L1' } },
  { id: 'm2', name: 'Grace', email: 'grace@example.org', homeBranch: null },
];
const BRANCHES: BranchRecord[] = [
  { city: 'Lyon', code: 'L1', name: 'Part-Dieu', open: true, layout: [['b1', 'b2'], ['b3']] },
  { city: 'Oslo', code: 'O1', name: 'Deichman', open: true, layout: [['b3', 'b1'], [], ['b2']] },
  // Closed for works; its shelf still lists a book the catalog withdrew (b9), before Dune.
  { city: 'Gent', code: 'G1', name: 'De Krook', open: false, layout: [['b9', 'b1']] },
];
const COPIES: CopyRecord[] = [
  { bookId: 'b1', number: 1, city: 'Lyon', code: 'L1', condition: 'GOOD', edition: '1st' },
  { bookId: 'b1', number: 2, city: 'Oslo', code: 'O1', condition: 'NEW', edition: null },
  { bookId: 'b2', number: 1, city: 'Lyon', code: 'L1', condition: 'WORN', edition: '2nd' },
  { bookId: 'b3', number: 1, city: 'Oslo', code: 'O1', condition: 'GOOD', edition: '1st' },
];
const LOANS: LoanRecord[] = [
  { id: 'l1', bookId: 'b1', number: 1, memberId: 'm1', due: '2030-01-15' },
  // Lent to a member people has no record of.
  { id: 'l2', bookId: 'b3', number: 1, memberId: 'm9', due: '2030-02-01' },
];
const REVIEWS: ReviewRecord[] = [
  { id: 'r1', mediaId: 'b1', authorId: 'm1', body: 'Spice must flow.', stars: 5 },
  { id: 'r2', mediaId: 'b1', authorId: 'm2', body: 'Long, worth it.', stars: 4 },
  { id: 'r3', mediaId: 'f1', authorId: 'm2', body: 'Heptapods!', stars: 5 },
  { id: 'r4', mediaId: 'b3', authorId: 'm1', body: 'Quietly radical.', stars: 3 },
  { id: 'r5', mediaId: 'f2', authorId: 'm1', body: 'Awaiting moderation.', stars: null },
];

/** The library's data, shared by its subgraphs; mutations change it until `reset`. */
export class Library {
  members: MemberRecord[] = [];
  loans: LoanRecord[] = [];
  reviews: ReviewRecord[] = [];

  constructor() {
    this.reset();
  }

  /** Back to the data the library starts with. */
  reset(): void {
    this.members = MEMBERS.map((m) => ({ ...m }));
    this.loans = LOANS.map((l) => ({ ...l }));
    this.reviews = REVIEWS.map((r) => ({ ...r }));
  }
}

/** A thrown error with a code, as a subgraph sends it in `extensions.code`. */
function coded(code: string, message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code } });
}

const book = (id: string) => BOOKS.find((b) => b.id === id);
const film = (id: string) => FILMS.find((f) => f.id === id);
const asBook = (b: BookRecord | undefined) => (b ? { __typename: 'Book', ...b } : null);
const asFilm = (f: FilmRecord | undefined) => (f ? { __typename: 'Film', ...f } : null);
const mediaById = (id: string) => asBook(book(id)) ?? asFilm(film(id));
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A resolver's arguments: the names it reads, all given (validation saw to it) unless optional. */
type Args<K extends string, T> = Record<K, T>;
type Subgraph = { name: SubgraphName; typeDefs: DocumentNode; schema: GraphQLSchema };

/** The five subgraphs, by name. */
export type SubgraphName = 'catalog' | 'people' | 'lending' | 'reviews' | 'search';

/** The subgraphs' executable schemas over one library. */
export function librarySubgraphs(library: Library): Subgraph[] {
  const catalog = buildSubgraphSchema([
    {
      typeDefs: CATALOG_SDL,
      resolvers: {
        Query: {
          media: (_: unknown, { id }: Args<'id', string>) => mediaById(id),
          book: (_: unknown, { id }: Args<'id', string>) => asBook(book(id)),
          books: (_: unknown, { format }: Args<'format', string | undefined>) =>
            BOOKS.filter((b) => b.onShelf && (!format || b.format === format)).map(asBook),
          films: () => FILMS.map(asFilm),
        },
        Media: {
          __resolveReference: (ref: { id: string }) => mediaById(ref.id),
          __resolveType: (media: { __typename: string }) => media.__typename,
        },
        Book: {
          __resolveReference: (ref: { id?: string; isbn?: string }) => asBook(BOOKS.find((b) => b.id === ref.id || b.isbn === ref.isbn)),
          blurb: (b: BookRecord) => {
            if (b.id === 'b2') throw new Error('blurb store timed out');
            return `${b.title}, ${b.pages} pages.`;
          },
          weight: (b: BookRecord, { unit }: Args<'unit', string>) => (unit === 'OUNCE' ? Math.round(b.grams / 28.35) : b.grams),
          author: (b: BookRecord) => ({ id: b.authorId }),
          sequel: (b: BookRecord) => (b.sequelId ? asBook(book(b.sequelId)) : null),
          acquisition: () => ({ supplier: 'Staff only', price: 1999 }),
        },
        Film: {
          __resolveReference: (ref: { id: string }) => asFilm(film(ref.id)),
          director: (f: FilmRecord) => (f.directorId ? { id: f.directorId } : null),
        },
        Copy: {
          __resolveReference: (ref: { book: { id: string }; number: number }) => {
            const copy = COPIES.find((c) => c.bookId === ref.book.id && c.number === ref.number);
            return copy ? { book: { id: copy.bookId }, number: copy.number, edition: copy.edition } : null;
          },
          book: (c: { book: { id: string } }) => asBook(book(c.book.id)),
        },
      } as never,
    },
  ]);

  const people = buildSubgraphSchema([
    {
      typeDefs: PEOPLE_SDL,
      resolvers: {
        Query: {
          member: (_: unknown, { id }: Args<'id', string>) => {
            const member = library.members.find((m) => m.id === id);
            if (!member) throw coded('NOT_FOUND', `Member ${id} was not found.`);
            return member;
          },
          members: () => library.members,
          author: (_: unknown, { id }: Args<'id', string>) => AUTHORS.find((a) => a.id === id) ?? null,
        },
        Mutation: {
          renameMember: (_: unknown, { id, name }: Args<'id' | 'name', string>) => {
            const member = library.members.find((m) => m.id === id);
            if (!member) throw coded('NOT_FOUND', `Member ${id} was not found.`);
            member.name = name;
            return member;
          },
        },
        Author: { __resolveReference: (ref: { id: string }) => AUTHORS.find((a) => a.id === ref.id) ?? null },
        Member: {
          __resolveReference: (ref: { id: string }) => library.members.find((m) => m.id === ref.id) ?? null,
          // Overridden by reviews: a plan that still asked people would answer this.
          reviewCount: () => -1,
        },
      } as never,
    },
  ]);

  const copyOf = (c: CopyRecord) => ({ book: { id: c.bookId }, number: c.number, condition: c.condition, city: c.city, code: c.code });
  const loanOf = (l: LoanRecord) => ({ id: l.id, due: l.due, memberId: l.memberId, bookId: l.bookId, number: l.number });
  const branchOf = (city: string, code: string) => BRANCHES.find((b) => b.city === city && b.code === code) ?? null;
  const lending = buildSubgraphSchema([
    {
      typeDefs: LENDING_SDL,
      resolvers: {
        Query: {
          branch: (_: unknown, { city, code }: Args<'city' | 'code', string>) => branchOf(city, code),
          branches: () => BRANCHES.filter((b) => b.open),
          loan: (_: unknown, { id }: Args<'id', string>) => {
            const loan = library.loans.find((l) => l.id === id);
            return loan ? loanOf(loan) : null;
          },
        },
        Mutation: {
          borrow: (_: unknown, { bookId, number, memberId }: { bookId: string; number: number; memberId: string }) => {
            if (library.loans.some((l) => l.bookId === bookId && l.number === number)) {
              throw coded('CONFLICT', `Copy ${number} of ${bookId} is already lent.`);
            }
            const loan = { id: `l${library.loans.length + 1}`, bookId, number, memberId, due: '2030-03-01' };
            library.loans.push(loan);
            return loanOf(loan);
          },
        },
        Branch: {
          __resolveReference: (ref: { city: string; code: string }) => branchOf(ref.city, ref.code),
          layout: (b: BranchRecord) => b.layout.map((row) => row.map((id) => ({ id }))),
          copies: (b: BranchRecord) => COPIES.filter((c) => c.city === b.city && c.code === b.code).map(copyOf),
        },
        Copy: {
          __resolveReference: (ref: { book: { id: string }; number: number }) => {
            const copy = COPIES.find((c) => c.bookId === ref.book.id && c.number === ref.number);
            return copy ? copyOf(copy) : null;
          },
          book: (c: { book: { id: string } }) => ({ id: c.book.id }),
          branch: (c: { city: string; code: string }) => branchOf(c.city, c.code),
          borrower: (c: { book: { id: string }; number: number }) => {
            const loan = library.loans.find((l) => l.bookId === c.book.id && l.number === c.number);
            return loan ? { id: loan.memberId } : null;
          },
        },
        Book: {
          __resolveReference: (ref: { id: string }) => ref,
          copies: (b: { id: string }) => COPIES.filter((c) => c.bookId === b.id).map(copyOf),
          deliveryFee: (b: { weight: number; dimensions: { width: number; height: number; depth: number } }, { zone }: { zone: number }) => {
            if (zone < 1 || zone > 3) throw coded('BAD_USER_INPUT', `There is no delivery zone ${zone}; zones are 1 to 3.`);
            if (zone === 3 && b.weight > 500) throw coded('BAD_USER_INPUT', `Parcels over 500 g are not delivered to zone 3.`);
            const litres = (b.dimensions.width * b.dimensions.height * b.dimensions.depth) / 1e6;
            return zone * 100 + Math.ceil(b.weight / 100) * 20 + Math.ceil(litres) * 10;
          },
        },
        Loan: {
          __resolveReference: (ref: { id: string }) => {
            const loan = library.loans.find((l) => l.id === ref.id);
            return loan ? loanOf(loan) : null;
          },
          copy: (l: { bookId: string; number: number }) => {
            const copy = COPIES.find((c) => c.bookId === l.bookId && c.number === l.number);
            return copy ? copyOf(copy) : null;
          },
          member: (l: { memberId: string }) => ({ id: l.memberId }),
        },
        Member: {
          __resolveReference: (ref: { id: string }) => ref,
          loans: (m: { id: string }) => library.loans.filter((l) => l.memberId === m.id).map(loanOf),
        },
      } as never,
    },
  ]);

  const reviewsOf = (mediaId: string) => library.reviews.filter((r) => r.mediaId === mediaId);
  const reviewOf = (r: ReviewRecord) => ({ ...r });
  const reviews = buildSubgraphSchema([
    {
      typeDefs: REVIEWS_SDL,
      resolvers: {
        Query: {
          review: (_: unknown, { id }: Args<'id', string>) => library.reviews.find((r) => r.id === id) ?? null,
          latestReviews: (_: unknown, { first }: Args<'first', number>) => library.reviews.slice(0, first).map(reviewOf),
          // Most reviewed first, ties in the order first reviewed.
          topMedia: (_: unknown, { first }: Args<'first', number>) => {
            const ids = [...new Set(library.reviews.map((r) => r.mediaId))];
            return ids
              .map((id, order) => ({ id, order, count: reviewsOf(id).length }))
              .sort((a, b) => b.count - a.count || a.order - b.order)
              .slice(0, first)
              .map(({ id }) => ({ id }));
          },
        },
        Mutation: {
          addReview: async (_: unknown, { mediaId, stars, body, authorId }: { mediaId: string; stars: number; body: string; authorId: string }) => {
            // Slow on purpose: a gateway that ran the next mutation alongside would finish it first.
            await delay(20);
            const review = { id: `r${library.reviews.length + 1}`, mediaId, authorId, body, stars };
            library.reviews.push(review);
            return reviewOf(review);
          },
        },
        Media: {
          __resolveReference: (ref: { id: string }) => ({ id: ref.id }),
          reviews: (m: { id: string }, { first }: Args<'first', number>) => reviewsOf(m.id).slice(0, first).map(reviewOf),
          averageRating: (m: { id: string }) => {
            if (m.id === 'b3') throw coded('RATINGS_STALE', 'Ratings for b3 are being recalculated.');
            const stars = reviewsOf(m.id).flatMap((r) => (r.stars === null ? [] : [r.stars]));
            return stars.length ? stars.reduce((a, b) => a + b, 0) / stars.length : null;
          },
        },
        Review: {
          __resolveReference: (ref: { id: string }) => library.reviews.find((r) => r.id === ref.id) ?? null,
          // Provided here: the member's name as people has it.
          author: (r: ReviewRecord) => {
            const member = library.members.find((m) => m.id === r.authorId);
            return member ? { id: member.id, name: member.name } : null;
          },
          media: (r: ReviewRecord) => ({ id: r.mediaId }),
        },
        Member: {
          __resolveReference: (ref: { id: string }) => ({ id: ref.id }),
          reviews: (m: { id: string }) => library.reviews.filter((r) => r.authorId === m.id).map(reviewOf),
          reviewCount: (m: { id: string }) => library.reviews.filter((r) => r.authorId === m.id).length,
        },
      } as never,
    },
  ]);

  const search = buildSubgraphSchema([
    {
      typeDefs: SEARCH_SDL,
      resolvers: {
        Query: {
          search: (_: unknown, { term }: Args<'term', string>) => {
            const matches = (text: string) => text.toLowerCase().includes(term.toLowerCase());
            return [
              ...BOOKS.filter((b) => b.onShelf && matches(b.title)).map((b) => ({ __typename: 'Book', isbn: b.isbn, title: b.title, callNumber: b.callNumber })),
              ...FILMS.filter((f) => matches(f.title)).map((f) => ({ __typename: 'Film', id: f.id })),
              ...AUTHORS.filter((a) => matches(a.name)).map((a) => ({ __typename: 'Author', id: a.id })),
            ];
          },
        },
        SearchHit: { __resolveType: (hit: { __typename: string }) => hit.__typename },
        Book: {
          __resolveReference: (ref: { isbn: string }) => {
            const b = BOOKS.find((x) => x.isbn === ref.isbn);
            return b ? { isbn: b.isbn, title: b.title, callNumber: b.callNumber } : null;
          },
        },
      } as never,
    },
  ]);

  return [
    { name: 'catalog', typeDefs: CATALOG_SDL, schema: catalog },
    { name: 'people', typeDefs: PEOPLE_SDL, schema: people },
    { name: 'lending', typeDefs: LENDING_SDL, schema: lending },
    { name: 'reviews', typeDefs: REVIEWS_SDL, schema: reviews },
    { name: 'search', typeDefs: SEARCH_SDL, schema: search },
  ];
}
