import { runSubgraph } from '../../platform/main';
import { createProductSearchSubgraph } from './subgraph';

runSubgraph('product-search', createProductSearchSubgraph);
